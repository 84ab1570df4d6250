"""A teacher places Repères in a course by deep linking; the answer is a signed JWT."""

from __future__ import annotations

import jwt
import responses
from sqlalchemy import select

from integration.lti import claims as c
from integration.lti.context import lti_context
from integration.models import Course, Person
from tests.support import lti as lti_support
from tests.support.lti import (
    MOODLE_TOOL_BASE,
    FakePlatform,
    launch_as,
    moodle_id_token,
    read_form,
    start_login,
)

demo_app = lti_support.demo_app
demo_client = lti_support.demo_client


def verify_answer(client, html: str, audience: str) -> dict:
    action, fields = read_form(html)
    jwks = client.get("/lti/jwks").json
    kid = jwt.get_unverified_header(fields["JWT"])["kid"]
    key = next(jwt.PyJWK(k).key for k in jwks["keys"] if k["kid"] == kid)
    body = jwt.decode(fields["JWT"], key, algorithms=["RS256"], audience=audience)
    return {"action": action, **body}


def test_accompagnatrice_places_mon_parcours_and_a_referentiel(demo_client, demo_app):
    from integration.demo_platform import CLIENT_ID, DEPLOYMENT_ID, demo_of

    picker = launch_as(demo_client, "accompagnatrice", kind="deep_link").response
    assert picker.status_code == 200
    html = picker.get_data(as_text=True)
    assert "Repères – Mon parcours" in html and "agent (e) magasinier" in html
    action, fields = read_form(html)
    answer = demo_client.post(
        action, data={"ticket": fields["ticket"], "choice": ["parcours", "ref:TP-AM@2014-02-23"]}
    )
    assert answer.status_code == 200
    demo = demo_of(demo_app)
    body = verify_answer(demo_client, answer.get_data(as_text=True), demo.issuer)
    assert body["action"] == demo.issuer + "/deep-link-return"
    assert body["iss"] == CLIENT_ID and body[c.MESSAGE_TYPE] == "LtiDeepLinkingResponse"
    assert body[c.VERSION] == "1.3.0" and body[c.DEPLOYMENT_ID] == DEPLOYMENT_ID
    assert body[c.DL_DATA], "the platform's data comes back"
    items = body[c.DL_CONTENT_ITEMS]
    assert [i["type"] for i in items] == ["ltiResourceLink", "ltiResourceLink"]
    assert items[0]["url"] == demo.tool.launch and "custom" not in items[0]
    assert items[1]["custom"] == {c.CUSTOM_REFERENTIEL: "TP-AM@2014-02-23"}

    # The platform receives it, and a candidat launches the placed référentiel link.
    _, fields = read_form(answer.get_data(as_text=True))
    placed = demo_client.post("/demo/deep-link-return", data=fields)
    assert placed.status_code == 200 and "agent (e) magasinier" in placed.get_data(as_text=True)
    link = demo.props.links["rae"][1]["id"]
    launch_as(demo_client, "candidat2", link=link)
    with lti_context(demo_app).sessions.begin() as session:
        course = session.scalar(select(Course).where(Course.context_id == "rae"))
        assert course.referentiels == ["TP-AM@2014-02-23"]


def test_the_ticket_of_the_picker_serves_once(demo_client):
    picker = launch_as(demo_client, "coordinateur", kind="deep_link").response
    action, fields = read_form(picker.get_data(as_text=True))
    assert (
        demo_client.post(
            action, data={"ticket": fields["ticket"], "choice": "parcours"}
        ).status_code
        == 200
    )
    again = demo_client.post(action, data={"ticket": fields["ticket"], "choice": "parcours"})
    assert again.status_code == 400


def test_a_choice_is_needed(demo_client):
    picker = launch_as(demo_client, "accompagnatrice", kind="deep_link").response
    action, fields = read_form(picker.get_data(as_text=True))
    response = demo_client.post(action, data={"ticket": fields["ticket"]})
    assert response.status_code == 422


def test_a_candidat_cannot_place_content_and_nothing_is_recorded(demo_client, demo_app):
    refused = launch_as(demo_client, "candidat1", kind="deep_link").response
    assert refused.status_code == 403
    assert "Seul un formateur" in refused.get_data(as_text=True)
    with lti_context(demo_app).sessions.begin() as session:
        assert session.scalars(select(Person)).all() == []


settings = lti_support.moodle_tool_settings  # the recorded launches point at its address


def test_moodle_deep_linking_request_without_data(app, client, shared_dir):
    platform = FakePlatform()
    platform.register(app)
    recorded = moodle_id_token(shared_dir, "deep_linking")
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        platform.serve(mock)
        target = MOODLE_TOOL_BASE + "/lti/launch"
        login = start_login(client, platform, target)
        token = platform.sign(platform.claims(recorded, nonce=login.nonce, target=target))
        picker = client.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert picker.status_code == 200
    action, fields = read_form(picker.get_data(as_text=True))
    answer = client.post(action, data={"ticket": fields["ticket"], "choice": "parcours"})
    body = verify_answer(client, answer.get_data(as_text=True), platform.issuer)
    assert body["action"] == recorded[c.DL_SETTINGS]["deep_link_return_url"]
    assert body["aud"] == "http://127.0.0.1:8081" and body["iss"] == platform.client_id
    assert c.DL_DATA not in body, "Moodle sent no data: none goes back"
