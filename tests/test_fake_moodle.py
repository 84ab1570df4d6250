"""The Moodle client against the fake Moodle server, over real HTTP."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
import requests

from connectors.moodle import (
    OPTIONAL_FUNCTIONS,
    SYNC_FUNCTIONS,
    MoodleClient,
    MoodleError,
    MoodleFunctionUnavailable,
    MoodleTokenError,
    MoodleTransportError,
)
from tests.fake_moodle import FakeModule, FakeMoodle, recorded_answer

TOKEN = "c0ffee00c0ffee00c0ffee00c0ffee00"


@pytest.fixture
def fake() -> Iterator[FakeMoodle]:
    """Course 2 with four modules, one accompagnateur and three candidats."""
    with FakeMoodle(token=TOKEN) as fm:
        fm.add_course(
            2,
            "Accompagnement de parcours RAE",
            shortname="RAE-2024",
            modules=[
                FakeModule(1, "Présentation du dispositif RAE", "page"),
                FakeModule(2, "Charte d'accompagnement", "label"),
                FakeModule(
                    4,
                    "Dossier de preuves (livret 2)",
                    "assign",
                    instance=1,
                    section=2,
                    completion=2,
                ),
                FakeModule(5, "Forum des candidats", "forum", section=2, completion=0),
            ],
        )
        fm.add_user(3, "teacher1", "Claire", "Dubois", "claire.dubois@example.com")
        fm.enrol(2, 3, "editingteacher")
        for userid, username, first, last in [
            (5, "student1", "Amina", "Benali"),
            (6, "student2", "Lucas", "Martin"),
            (7, "student3", "Élodie", "Moreau"),
        ]:
            fm.add_user(userid, username, first, last, idnumber=username.upper())
            fm.enrol(2, userid)
        yield fm


def client_for(fm: FakeMoodle, **options: object) -> MoodleClient:
    settings: dict[str, object] = {"retries": 2, "backoff": 0, **options}
    return MoodleClient(fm.url, fm.token, **settings)


def test_a_sync_reads_the_course_its_people_and_their_completions(fake):
    fake.set_completion(5, 1)
    fake.set_completion(5, 4, timecompleted=1_795_667_094)
    fake.set_completion(6, 1)

    with client_for(fake) as moodle:
        assert (
            moodle.get_site_info().missing_functions([*SYNC_FUNCTIONS, *OPTIONAL_FUNCTIONS]) == []
        )
        contents = moodle.get_course_contents(2)
        people = list(moodle.iter_enrolled_users(2, page_size=2))
        done = {
            person.username: sorted(
                status.cmid
                for status in moodle.get_activities_completion_status(2, person.id).statuses
                if status.is_complete
            )
            for person in people
            if "student" in person.role_shortnames
        }

    assert [(m.cmid, m.modname) for m in contents.modules] == [
        (1, "page"),
        (2, "label"),
        (4, "assign"),
        (5, "forum"),
    ]
    assert [m.cmid for m in contents.modules if m.tracks_completion] == [1, 2, 4]
    assert [p.username for p in people] == ["teacher1", "student1", "student2", "student3"]
    assert done == {"student1": [1, 4], "student2": [1], "student3": []}
    assert len(fake.calls_to("core_enrol_get_enrolled_users")) == 3  # 2 + 2 + an empty page
    assert all(call.outcome == "ok" for call in fake.calls)


def test_the_fake_answers_in_the_shapes_a_real_moodle_4_3_uses(fake):
    fake.set_completion(5, 4)

    def post(function: str, **params: object) -> object:
        data = {"wstoken": TOKEN, "wsfunction": function, "moodlewsrestformat": "json", **params}
        return requests.post(f"{fake.url}/webservice/rest/server.php", data=data, timeout=5).json()

    def keys(value: object) -> set[str]:
        assert isinstance(value, dict)
        return set(value)

    site = post("core_webservice_get_site_info")
    assert keys(site) == keys(recorded_answer("core_webservice_get_site_info"))

    contents = post("core_course_get_contents", courseid=2)
    real = recorded_answer("core_course_get_contents")
    assert keys(contents[0]) == keys(real[0])
    assert keys(contents[2]["modules"][0]) == keys(real[2]["modules"][0])

    people = post("core_enrol_get_enrolled_users", courseid=2)
    assert keys(people[0]) == keys(recorded_answer("core_enrol_get_enrolled_users")[0])

    statuses = post("core_completion_get_activities_completion_status", courseid=2, userid=5)
    real_statuses = recorded_answer("core_completion_get_activities_completion_status__student1")
    assert keys(statuses) == keys(real_statuses)
    assert list(statuses["statuses"][2]) == list(real_statuses["statuses"][3])



def test_a_wrong_token_is_refused(fake):
    with MoodleClient(fake.url, "not-the-token") as moodle, pytest.raises(MoodleTokenError):
        moodle.get_site_info()
    assert [call.outcome for call in fake.calls] == ["error:invalidtoken"]


def test_a_short_outage_is_ridden_out_by_the_retries(fake):
    fake.start_outage("503", calls=2)

    with client_for(fake, retries=3) as moodle:
        assert moodle.get_site_info().username == "wsuser"

    assert fake.call_count == 3
    assert [call.outcome for call in fake.calls] == ["http:503", "http:503", "ok"]


def test_dropped_connections_exhaust_the_retries(fake):
    fake.start_outage("close")

    with client_for(fake, retries=2) as moodle, pytest.raises(MoodleTransportError) as caught:
        moodle.get_course_contents(2)

    assert caught.value.errorcode == "connectionerror"
    assert fake.call_count == 3
    fake.end_outage()
    with client_for(fake) as moodle:
        assert moodle.get_course_contents(2).modules


def test_a_slow_moodle_times_out_without_a_second_try(fake):
    fake.delay = 1.0

    with (
        client_for(fake, timeout=(5, 0.2)) as moodle,
        pytest.raises(MoodleTransportError) as caught,
    ):
        moodle.get_site_info()

    assert caught.value.errorcode == "timeout"
    time.sleep(fake.delay + 1.0)  # the fake counts a call once its delay is over
    assert fake.call_count == 1  # one try, not three


def test_module_competencies_until_the_function_leaves_the_service(fake):
    fake.link_competency(4, 3, "Identifier les situations professionnelles", "RAE-C1.1")

    with client_for(fake) as moodle:
        (link,) = moodle.list_course_module_competencies(4)
        fake.competencies_enabled = False
        with pytest.raises(MoodleFunctionUnavailable, match="competenciesarenotenabled"):
            moodle.list_course_module_competencies(4)
        fake.remove_function("core_competency_list_course_module_competencies")
        with pytest.raises(MoodleFunctionUnavailable, match="accessexception"):
            moodle.list_course_module_competencies(4)

    assert (link.cmid, link.competency.idnumber, link.ruleoutcome) == (4, "RAE-C1.1", 1)


def test_an_injected_moodle_error_fails_one_call(fake):
    fake.inject_error("core_course_get_contents", "nopermissions", "Sorry, no")

    with client_for(fake) as moodle:
        with pytest.raises(MoodleError, match="nopermissions"):
            moodle.get_course_contents(2)
        assert moodle.get_course_contents(2).modules


def test_the_token_stays_out_of_the_logs_over_real_http(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.start_outage("503", calls=1)

    with client_for(fake) as moodle:
        moodle.get_site_info()
        with pytest.raises(MoodleError) as caught:
            moodle.get_course_contents(404)

    assert "urllib3" in caplog.text and "connectors.moodle" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN not in str(caught.value)
