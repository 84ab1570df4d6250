"""The Moodle client against answers recorded from a real Moodle 4.3 (with `responses`)."""

from __future__ import annotations

from enum import Enum

import pytest

from connectors.moodle import (
    OPTIONAL_FUNCTIONS,
    SYNC_FUNCTIONS,
    CompletionState,
    MoodleClient,
    MoodleError,
    MoodleFunctionUnavailable,
    WsFunction,
    flatten_params,
)
from tests.fake_moodle import recorded_answer
from tests.support.moodle_mock import (  # noqa: F401  (moodle, client: fixtures)
    BASE_URL,
    ENDPOINT,
    TOKEN,
    answers,
    answers_json,
    client_fixture,
    mocked_client,
    mocked_moodle,
    moodle_error_body,
    moodle_fixture,
    sent,
)

# ------------------------------------------------------------------ what the token may do


def test_site_info_tells_who_the_token_is_and_what_it_may_call(moodle, client):
    answers(moodle, "core_webservice_get_site_info")

    site = client.get_site_info()

    assert site.username == "wsuser"
    assert site.userid == 10
    assert site.release == "4.3 (Build: 20231009)"
    assert site.has_function("core_course_get_contents")
    assert site.raw["sitename"] == "Moodle RAE Acceptance"
    fields = sent(moodle)
    assert fields == {
        "wstoken": TOKEN,
        "wsfunction": "core_webservice_get_site_info",
        "moodlewsrestformat": "json",
    }
    request = moodle.calls[0].request
    assert request.method == "POST"
    assert request.headers["User-Agent"] == "Reperes/0.1 (+LTI tool)"


def test_coordinateur_learns_which_functions_the_service_lacks(moodle, client):
    answers(moodle, "core_webservice_get_site_info")

    site = client.get_site_info()

    # The recorded service was set up before module competencies and messages were needed.
    assert site.missing_functions(SYNC_FUNCTIONS) == []
    assert site.missing_functions([*SYNC_FUNCTIONS, *OPTIONAL_FUNCTIONS]) == [
        "core_competency_list_course_module_competencies",
        "core_message_send_instant_messages",
    ]


# ------------------------------------------------------------------ the course and its people


def test_course_contents_list_each_module_with_its_cmid_and_completion(moodle, client):
    answers(moodle, "core_course_get_contents")

    contents = client.get_course_contents(2)

    assert [section.name for section in contents.sections] == [
        "General",
        "Topic 1",
        "Topic 2",
        "Topic 3",
    ]
    assert [module.cmid for module in contents.modules] == [1, 2, 3, 4, 5]
    dossier = contents.module(4)
    assert dossier is not None
    assert (dossier.name, dossier.modname, dossier.instance) == (
        "Dossier de preuves (livret 2)",
        "assign",
        1,
    )
    assert dossier.url == "http://127.0.0.1:8081/mod/assign/view.php?id=4"
    assert dossier.section == 2
    assert dossier.completion == 2 and dossier.tracks_completion
    assert dossier.completiondata is not None
    assert dossier.completiondata.istrackeduser is False  # the web-service account
    charte = contents.module(2)
    assert charte is not None and charte.modname == "label" and charte.url is None
    assert sent(moodle)["courseid"] == "2"


def test_a_candidat_sees_their_own_completion_in_the_contents(moodle, client):
    answers(moodle, "core_course_get_contents__student1")

    contents = client.get_course_contents(2)

    lti = contents.module(6)
    assert lti is not None and lti.modname == "lti"
    presentation = contents.module(1)
    assert presentation is not None and presentation.completiondata is not None
    assert presentation.completiondata.is_complete
    assert presentation.completiondata.timecompleted == 1795667102


def test_enrolled_users_arrive_page_by_page_until_a_short_page(moodle, client):
    everyone = recorded_answer("core_enrol_get_enrolled_users")
    for page in (everyone[0:3], everyone[3:6], everyone[6:7]):
        answers_json(moodle, page)

    users = list(client.iter_enrolled_users(2, {"onlyactive": True}, page_size=3))

    assert [user.username for user in users] == [
        "teacher1",
        "teacher2",
        "student1",
        "student2",
        "student3",
        "student4",
        "student5",
    ]
    assert users[2].fullname == "Amina Benali"
    assert users[2].email == "amina.benali@example.com"
    assert users[2].role_shortnames == {"student"}
    assert users[0].roles[0].roleid == 3
    assert len(moodle.calls) == 3
    assert sent(moodle, 0) == {
        "wstoken": TOKEN,
        "wsfunction": "core_enrol_get_enrolled_users",
        "moodlewsrestformat": "json",
        "courseid": "2",
        "options[0][name]": "onlyactive",
        "options[0][value]": "1",
        "options[1][name]": "limitfrom",
        "options[1][value]": "0",
        "options[2][name]": "limitnumber",
        "options[2][value]": "3",
    }
    assert [sent(moodle, i)["options[1][value]"] for i in range(3)] == ["0", "3", "6"]


def test_a_full_last_page_ends_with_an_empty_page(moodle, client):
    answers(moodle, "core_enrol_get_enrolled_users")  # 7 people
    answers_json(moodle, [])

    users = list(client.iter_enrolled_users(2, page_size=7))

    assert len(users) == 7
    assert len(moodle.calls) == 2


def test_paging_stops_when_moodle_ignores_the_limits(moodle, client):
    for _ in range(2):
        answers(moodle, "core_enrol_get_enrolled_users")

    users = list(client.iter_enrolled_users(2, page_size=3))

    assert len(users) == 7  # each person once
    assert len(moodle.calls) == 2


def test_paging_options_belong_to_the_client(client):
    with pytest.raises(ValueError, match="limitfrom"):
        next(client.iter_enrolled_users(2, {"limitfrom": 10}))


def test_userfields_leave_out_what_was_not_asked(moodle, client):
    answers(moodle, "core_enrol_get_enrolled_users__students_only_options")

    users = list(client.iter_enrolled_users(2, {"userfields": "id,username,fullname,email"}))

    assert users[0].fullname == "Claire Dubois"
    assert users[0].firstname is None
    assert sent(moodle)["options[0][value]"] == "id,username,fullname,email"


def test_people_are_matched_by_email_or_username(moodle, client):
    answers(moodle, "core_user_get_users_by_field__email")
    answers(moodle, "core_user_get_users_by_field__username")
    answers(moodle, "core_user_get_users_by_field__unknown_email")

    by_email = client.get_users_by_field("email", ["amina.benali@example.com"])
    by_username = client.get_users_by_field("username", ["student3"])
    nobody = client.get_users_by_field("email", ["nobody@example.com"])

    assert [(u.id, u.username) for u in by_email] == [(5, "student1")]
    assert by_email[0].suspended is False
    assert by_username[0].fullname == "Élodie Moreau"
    assert nobody == []
    assert sent(moodle, 0)["field"] == "email"
    assert sent(moodle, 0)["values[0]"] == "amina.benali@example.com"


def test_matching_nobody_asks_moodle_nothing(moodle, client):
    assert client.get_users_by_field("email", []) == []
    assert len(moodle.calls) == 0


# ------------------------------------------------------------------ completions


def test_a_candidat_who_finished_every_activity(moodle, client):
    answers(moodle, "core_completion_get_activities_completion_status__student1")

    completion = client.get_activities_completion_status(2, 5)

    assert [s.cmid for s in completion.statuses] == [1, 2, 3, 4, 5]
    assert all(s.is_complete for s in completion.statuses)
    assert all(s.state == CompletionState.COMPLETE for s in completion.statuses)
    dossier = completion.by_cmid()[4]
    assert (dossier.modname, dossier.instance, dossier.tracking) == ("assign", 1, 2)
    assert dossier.timecompleted == 1795667094
    assert completion.warnings == ()
    assert sent(moodle)["userid"] == "5"


def test_a_person_not_enrolled_gets_untracked_statuses_not_an_error(moodle, client):
    answers(moodle, "core_completion_get_activities_completion_status__not_enrolled_user")

    completion = client.get_activities_completion_status(2, 10)

    assert all(s.istrackeduser is False for s in completion.statuses)
    assert not any(s.is_complete for s in completion.statuses)


def test_newer_moodle_says_itself_whether_an_activity_is_complete(moodle, client):
    answers_json(
        moodle,
        {
            "statuses": [
                {
                    "cmid": 7,
                    "modname": "quiz",
                    "instance": 2,
                    "state": 3,
                    "timecompleted": 1,
                    "tracking": 2,
                    "isoverallcomplete": True,
                },
            ],
            "warnings": [],
        },
    )

    status = client.get_activities_completion_status(2, 5).statuses[0]

    assert status.state == CompletionState.COMPLETE_FAIL
    assert status.is_complete  # Moodle's verdict wins over our reading of the state


# ------------------------------------------------------------------ competencies


def test_competencies_linked_to_a_module(moodle, client):
    # No recording: the recorded service lacked the function. The shape follows
    # list_course_module_competencies_returns, with competencies recorded for the course.
    course_links = recorded_answer("core_competency_list_course_competencies")
    answers_json(
        moodle,
        [
            {
                "competency": link["competency"],
                "coursemodulecompetency": {
                    "cmid": 4,
                    "competencyid": link["competency"]["id"],
                    "sortorder": index,
                    "ruleoutcome": 1,
                    "id": index + 1,
                    "timecreated": 1795667095,
                    "timemodified": 1795667095,
                    "usermodified": 2,
                },
            }
            for index, link in enumerate(course_links[:2])
        ],
    )

    links = client.list_course_module_competencies(4)

    assert [(link.cmid, link.competency.idnumber) for link in links] == [
        (4, "RAE-C1.1"),
        (4, "RAE-C1.2"),
    ]
    assert (
        links[0].competency.shortname == "Identifier les situations professionnelles significatives"
    )
    assert links[0].ruleoutcome == 1
    assert sent(moodle)["cmid"] == "4"


@pytest.mark.parametrize(
    "recording_or_body",
    [
        "error__function_not_in_service",
        "error__function_does_not_exist",
        moodle_error_body("competenciesarenotenabled", "Competencies are not enabled"),
    ],
    ids=["not in the service", "unknown to this Moodle", "competencies turned off"],
)
def test_module_competencies_can_be_not_available(moodle, client, recording_or_body):
    if isinstance(recording_or_body, str):
        answers(moodle, recording_or_body)
    else:
        answers_json(moodle, recording_or_body)

    with pytest.raises(MoodleFunctionUnavailable) as caught:
        client.list_course_module_competencies(4)

    assert isinstance(caught.value, MoodleError)
    assert caught.value.function == "core_competency_list_course_module_competencies"


# ------------------------------------------------------------------ parameters


def test_nested_parameters_are_flattened_the_php_way():
    class Colour(Enum):
        RED = "red"

    assert flatten_params(
        {
            "courseid": 2,
            "options": [{"name": "onlyactive", "value": True}, {"name": "x", "value": False}],
            "criteria": {"key": "email", "values": ["a@b.c", "d@e.f"]},
            "skipped": None,
            "empty": [],
            "ratio": 0.5,
            "function": WsFunction.GET_SITE_INFO,
            "state": CompletionState.COMPLETE,
        }
    ) == [
        ("courseid", "2"),
        ("options[0][name]", "onlyactive"),
        ("options[0][value]", "1"),
        ("options[1][name]", "x"),
        ("options[1][value]", "0"),
        ("criteria[key]", "email"),
        ("criteria[values][0]", "a@b.c"),
        ("criteria[values][1]", "d@e.f"),
        ("ratio", "0.5"),
        ("function", "core_webservice_get_site_info"),
        ("state", "1"),
    ]
    with pytest.raises(TypeError, match="'colour'"):
        flatten_params({"colour": Colour.RED})
    with pytest.raises(TypeError, match="'when'"):
        flatten_params({"when": object()})


def test_the_client_owns_the_web_service_fields(client):
    with pytest.raises(ValueError, match="wstoken"):
        client.call("core_webservice_get_site_info", {"wstoken": "other"})


def test_the_base_url_is_normalised_and_checked():
    assert MoodleClient(BASE_URL + "/", TOKEN).endpoint == ENDPOINT
    with pytest.raises(ValueError, match="http"):
        MoodleClient("moodle.example.org", TOKEN)
