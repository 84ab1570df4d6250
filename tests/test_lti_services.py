"""Names and roles (NRPS) and grades (AGS), against the demo platform and Moodle's answers."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from sqlalchemy import select

from integration.lti import claims as c
from integration.lti.context import lti_context
from integration.lti.errors import ServiceError
from integration.lti.services import list_members, post_score
from integration.models import Course, Person, Platform, Role
from tests.support import lti as lti_support
from tests.support.lti import MOODLE_ISSUER, FakePlatform, launch_as

demo_app = lti_support.demo_app
demo_client = lti_support.demo_client


def loaded(app, context_id: str = "rae"):
    session = lti_context(app).sessions()
    course = session.scalar(select(Course).where(Course.context_id == context_id))
    return session, session.get(Platform, course.platform_id), course


def test_list_members_of_a_demo_course_with_their_roles(demo_app, demo_client):
    launch_as(demo_client, "accompagnatrice")
    session, platform, course = loaded(demo_app)
    with demo_app.app_context():
        members = list_members(platform, course)  # the caller's transaction stays open
    session.close()
    roles = {m.name: m.role for m in members}
    assert roles == {
        "Samira B.": Role.CANDIDAT,
        "Jean-Marc D.": Role.CANDIDAT,
        "Fatou K.": Role.CANDIDAT,
        "Nadia L.": Role.ACCOMPAGNATEUR,
        "Olivier R.": Role.COORDINATEUR,
    }
    assert {m.roles for m in members} >= {("Learner",), ("Instructor",)}


def test_list_members_follows_link_pages_and_reuses_its_token(demo_app, demo_client):
    launch_as(demo_client, "accompagnatrice")
    session, platform, course = loaded(demo_app)
    course.nrps_url += "?limit=2"
    calls = []
    lti = lti_context(demo_app)
    original = lti.http.request

    def spy(method, url, **kwargs):
        calls.append((method, url))
        return original(method, url, **kwargs)

    lti.http.request = spy  # type: ignore[method-assign]
    with demo_app.app_context():
        assert len(list_members(platform, course)) == 5
        assert len(list_members(platform, course)) == 5
    session.close()
    pages = [u for m, u in calls if "/memberships" in u]
    assert len(pages) == 6 and any("page=3" in u for u in pages)


def test_post_score_creates_the_line_item_once_then_scores(demo_app, demo_client):
    from integration.demo_platform import demo_of

    launch_as(demo_client, "candidat1")
    session, platform, course = loaded(demo_app)
    samira = session.scalar(select(Person).where(Person.sub == "demo-samira"))
    with demo_app.app_context():
        first = post_score(platform, course, samira, 3, 4, comment="Bravo")
        second = post_score(platform, course, samira, 4, 4, "Completed", "FullyGraded")
    session.close()
    assert first == second
    props = demo_of(demo_app).props
    [items] = props.line_items.values()
    [item] = items.values()
    assert item["resourceId"] == "reperes" and item["label"] == "Repères"
    scores = props.scores[next(iter(items))]
    assert [(s["userId"], s["scoreGiven"], s["scoreMaximum"]) for s in scores] == [
        ("demo-samira", 3, 4),
        ("demo-samira", 4, 4),
    ]
    assert scores[0]["comment"] == "Bravo" and scores[0]["timestamp"].endswith("+00:00")


def test_a_course_without_services_says_so(demo_app, demo_client):
    launch_as(demo_client, "candidat1", course=None)
    session, platform, course = loaded(demo_app, "")
    with demo_app.app_context(), pytest.raises(ServiceError, match="launch Repères from it once"):
        list_members(platform, course)
    session.close()


# --- Moodle's answers ------------------------------------------------------------------------


@pytest.fixture
def probe(shared_dir: Path) -> dict:
    return dict(json.loads((shared_dir / "data/moodle-4.3/lti/services_probe.json").read_text()))


@pytest.fixture
def moodle_course(app, shared_dir):
    platform = FakePlatform()
    platform.register(app)
    claims = json.loads(
        (shared_dir / "data/moodle-4.3/lti/teacher_resource_link__id_token.json").read_text()
    )["claims"]
    ags = claims[c.AGS]
    with lti_context(app).sessions.begin() as session:
        session.add(
            Course(
                platform_id=platform.platform_id,
                context_id="2",
                referentiels=[],
                nrps_url=claims[c.NRPS]["context_memberships_url"],
                ags_lineitems_url=ags["lineitems"],
                ags_lineitem_url=ags["lineitem"],
                ags_scopes=ags["scope"],
            )
        )
        session.add(Person(platform_id=platform.platform_id, sub="5", name="Amina Benali"))
    return platform


def test_moodle_token_answer_labelled_text_html_is_read_as_json(app, probe, moodle_course):
    nrps = probe["nrps_memberships"]
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            MOODLE_ISSUER + "/mod/lti/token.php",
            body=probe["token_response"]["body"],
            content_type="text/html; charset=utf-8",
        )
        mock.add(responses.GET, nrps["url"], json=nrps["body"], content_type=nrps["content_type"])
        session, platform, course = loaded(app, "2")
        with app.app_context():
            members = list_members(platform, course)
            list_members(platform, course)
        session.close()
        token_calls = [call for call in mock.calls if call.request.url.endswith("/token.php")]
        assert len(token_calls) == 1, "the token is cached until it expires"
        form = {k: v[0] for k, v in parse_qs(token_calls[0].request.body).items()}
        assert form["grant_type"] == "client_credentials"
        assert (
            form["client_assertion_type"]
            == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        assert form["scope"] == c.SCOPE_NRPS
        jwks = app.test_client().get("/lti/jwks").json
        assertion = jwt.decode(
            form["client_assertion"],
            jwt.PyJWK(jwks["keys"][0]).key,
            algorithms=["RS256"],
            audience=MOODLE_ISSUER + "/mod/lti/token.php",
        )
        assert assertion["iss"] == assertion["sub"] == moodle_course.client_id and assertion["jti"]
    assert len(members) == 7
    assert {m.user_id: m.role for m in members}["3"] is Role.ACCOMPAGNATEUR
    assert {m.user_id: m.role for m in members}["5"] is Role.CANDIDAT


def test_moodle_score_goes_to_the_line_item_scores_url(app, probe, moodle_course):
    items = probe["ags_lineitems"]
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            MOODLE_ISSUER + "/mod/lti/token.php",
            body=probe["token_response"]["body"],
            content_type="text/html",
        )
        # No activity line item in the launch: Repères finds or creates its own.
        mock.add(
            responses.GET, items["url"], json=items["body"], content_type=items["content_type"]
        )
        created = MOODLE_ISSUER + "/mod/lti/services.php/2/lineitems/9/lineitem?type_id=1"
        mock.add(
            responses.POST,
            items["url"],
            json={"id": created, "label": "Repères", "scoreMaximum": 20, "resourceId": "reperes"},
        )
        mock.add(
            responses.POST,
            MOODLE_ISSUER + "/mod/lti/services.php/2/lineitems/9/lineitem/scores?type_id=1",
            body="",
            status=200,
        )
        session, platform, course = loaded(app, "2")
        course.ags_lineitem_url = None
        amina = session.scalar(select(Person).where(Person.sub == "5"))
        with app.app_context():
            assert post_score(platform, course, amina, 15, 20, comment="Bon travail") == created
        session.close()
        score_call = mock.calls[-1].request
        assert score_call.headers["Content-Type"] == "application/vnd.ims.lis.v1.score+json"
        sent = json.loads(score_call.body)
        assert sent["userId"] == "5" and sent["scoreGiven"] == 15 and sent["scoreMaximum"] == 20
        assert sent["activityProgress"] == "Completed" and sent["gradingProgress"] == "FullyGraded"


def test_moodle_score_goes_to_the_activity_line_item_of_the_launch(app, probe, moodle_course):
    """The launch carried `endpoint.lineitem`: the score lands in the activity's own column,
    no line item is listed or created (issue 17)."""
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            MOODLE_ISSUER + "/mod/lti/token.php",
            body=probe["token_response"]["body"],
            content_type="text/html",
        )
        own = MOODLE_ISSUER + "/mod/lti/services.php/2/lineitems/4/lineitem/scores?type_id=1"
        mock.add(responses.POST, own, body="", status=200)
        session, platform, course = loaded(app, "2")
        amina = session.scalar(select(Person).where(Person.sub == "5"))
        with app.app_context():
            item = post_score(platform, course, amina, 3, 14)
        session.close()
        assert item == course.ags_lineitem_url
        assert [k.request.url for k in mock.calls][-1] == own
        assert len(mock.calls) == 2  # the token, then the score: nothing created


def test_a_rejected_cached_token_is_renewed_once(app, probe, moodle_course):
    nrps = probe["nrps_memberships"]
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            MOODLE_ISSUER + "/mod/lti/token.php",
            body=probe["token_response"]["body"],
            content_type="text/html",
        )
        mock.add(responses.GET, nrps["url"], status=401, body=probe["nrps_bad_token"]["body"])
        mock.add(responses.GET, nrps["url"], json=nrps["body"])
        session, platform, course = loaded(app, "2")
        with app.app_context():
            assert len(list_members(platform, course)) == 7
        session.close()
        assert len([k for k in mock.calls if k.request.url.endswith("/token.php")]) == 2


def test_a_token_refusal_is_a_service_error(app, probe, moodle_course):
    with responses.RequestsMock() as mock:
        mock.add(
            responses.POST,
            MOODLE_ISSUER + "/mod/lti/token.php",
            status=400,
            body=probe["token_error_bad_signature"]["body"],
            content_type="text/html",
        )
        session, platform, course = loaded(app, "2")
        with app.app_context(), pytest.raises(ServiceError, match="answered 400"):
            list_members(platform, course)
        session.close()
