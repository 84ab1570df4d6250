"""Login initiation and launch: what Moodle really sends, what we record, how the session
survives an iframe (cookies, postMessage storage, a new window), and how refusals look."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration import create_app
from integration.lti import claims as c
from integration.lti.context import lti_context
from integration.lti.models import LtiLaunchState
from integration.models import Course, Membership, Person, Platform, Role
from tests.support import lti as lti_support
from tests.support.lti import (
    MOODLE_TOOL_BASE,
    FakePlatform,
    moodle_id_token,
    session_actor,
    start_login,
)

LAUNCH_URL = MOODLE_TOOL_BASE + "/lti/launch"


settings = lti_support.moodle_tool_settings  # the recorded launches point at its address


@pytest.fixture
def mock(platform_http: responses.RequestsMock) -> responses.RequestsMock:
    return platform_http


@pytest.fixture
def platform(fake_platform: FakePlatform) -> FakePlatform:
    return fake_platform


@pytest.fixture
def moodle(shared_dir: Path) -> dict[str, dict[str, Any]]:
    names = (
        "student_resource_link",
        "teacher_resource_link",
        "admin_resource_link",
        "deep_linking",
        "teacher_submission_review",
    )
    return {name: moodle_id_token(shared_dir, name) for name in names}


@pytest.fixture
def login_form(shared_dir: Path) -> dict[str, str]:
    flow = json.loads(
        (shared_dir / "data/moodle-4.3/lti/student_resource_link__flow.json").read_text()
    )
    return dict(flow["login_initiation_form"]["fields"])


def signed_launch(
    client: FlaskClient, platform: FakePlatform, claims: dict[str, Any], **login_extra: str
) -> tuple[Any, Any]:
    login = start_login(client, platform, LAUNCH_URL, **login_extra)
    token = platform.sign(platform.claims(claims, nonce=login.nonce, target=LAUNCH_URL))
    return client.post("/lti/launch", data={"id_token": token, "state": login.state}), login


def rows(app: Flask, model: type) -> list[Any]:
    with lti_context(app).sessions.begin() as session:
        return list(session.scalars(select(model)))


# --- login initiation -----------------------------------------------------------------


def test_moodle_login_initiation_redirects_to_its_auth_endpoint(app, client, platform, login_form):
    response = client.post("/lti/login", data=login_form)
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == platform.auth_url
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert query["scope"] == "openid"
    assert query["response_type"] == "id_token"
    assert query["response_mode"] == "form_post"
    assert query["prompt"] == "none"
    assert query["client_id"] == platform.client_id
    assert query["redirect_uri"] == LAUNCH_URL
    assert query["login_hint"] == login_form["login_hint"]
    assert query["lti_message_hint"] == login_form["lti_message_hint"]  # unaltered
    assert len(query["state"]) >= 22 and len(query["nonce"]) >= 22
    stored = rows(app, LtiLaunchState)
    assert [(s.state, s.nonce) for s in stored] == [(query["state"], query["nonce"])]
    assert "lti_state_" in response.headers["Set-Cookie"]


def test_login_initiation_by_get_works_too(app, client, platform, login_form):
    response = client.get("/lti/login", query_string=login_form)
    assert response.status_code == 302 and platform.auth_url in response.headers["Location"]


def test_each_login_gets_a_fresh_state_and_nonce(app, client, platform):
    first = start_login(client, platform, LAUNCH_URL)
    second = start_login(client, platform, LAUNCH_URL)
    assert first.state != second.state and first.nonce != second.nonce


def test_moodle_visitor_not_logged_in_gets_a_clear_page(app, client, platform, login_form):
    response = client.post("/lti/login", data={**login_form, "login_hint": "0"})
    assert response.status_code == 401
    assert "Vous n’êtes pas connecté à Moodle." in response.get_data(as_text=True)
    assert rows(app, LtiLaunchState) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"iss": "https://unknown.example"}, "unregistered issuer"),
        ({"client_id": "other"}, "unregistered issuer"),
        ({"target_link_uri": "https://evil.example/lti/launch"}, "is not on this tool"),
        ({"lti_deployment_id": "42"}, "deployment '42' is not registered"),
        ({"iss": ""}, "without iss"),
        ({"login_hint": ""}, "without login_hint"),
    ],
)
def test_bad_login_initiations_are_refused(
    app, client, platform, login_form, caplog, change, reason
):
    caplog.set_level(logging.INFO, logger="integration.lti")
    response = client.post("/lti/login", data={**login_form, **change})
    assert response.status_code == 400
    assert reason in caplog.text
    assert rows(app, LtiLaunchState) == []


def test_switched_off_platform_is_refused(app, client, platform, login_form):
    with lti_context(app).sessions.begin() as session:
        session.get(Platform, platform.platform_id).active = False
    assert client.post("/lti/login", data=login_form).status_code == 403


# --- real Moodle launches ----------------------------------------------------------------


def test_recorded_moodle_student_launch_records_person_course_and_membership(
    app, client, platform, moodle
):
    response, _ = signed_launch(client, platform, moodle["student_resource_link"])
    assert response.status_code == 303 and response.headers["Location"] == "/"
    actor = session_actor(client)
    assert actor is not None and actor.role is Role.CANDIDAT and actor.deployment_id == "1"
    [person] = rows(app, Person)
    assert (person.sub, person.name, person.email, person.username) == (
        "5",
        "Amina Benali",
        "amina.benali@example.com",
        "student1",
    )
    [course] = rows(app, Course)
    assert (course.context_id, course.title, course.label) == (
        "2",
        "Accompagnement de parcours RAE",
        "RAE-2024",
    )
    assert course.moodle_course_id == 2 and course.deployment_id == "1"
    assert course.nrps_url.endswith("/CourseSection/2/bindings/1/memberships")
    assert course.ags_lineitems_url.endswith("/2/lineitems?type_id=1")
    assert c.SCOPE_SCORE in course.ags_scopes
    [membership] = rows(app, Membership)
    assert membership.role is Role.CANDIDAT and membership.launched and membership.last_launch_at
    assert membership.roles_raw == ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
    assert actor.person_id == person.id and actor.course_id == course.id


def test_recorded_moodle_teacher_is_an_accompagnateur(app, client, platform, moodle):
    signed_launch(client, platform, moodle["teacher_resource_link"])
    assert session_actor(client).role is Role.ACCOMPAGNATEUR


def test_recorded_moodle_site_admin_is_a_coordinateur(app, client, platform, moodle):
    signed_launch(client, platform, moodle["admin_resource_link"])
    assert session_actor(client).role is Role.COORDINATEUR
    [person] = rows(app, Person)
    assert person.is_coordinateur


def test_recorded_moodle_submission_review_is_accepted(app, client, platform, moodle):
    response, _ = signed_launch(client, platform, moodle["teacher_submission_review"])
    assert response.status_code == 303
    assert session_actor(client).role is Role.ACCOMPAGNATEUR


def test_a_second_launch_updates_and_never_duplicates(app, client, platform, moodle):
    signed_launch(client, platform, moodle["student_resource_link"])
    renamed = {**moodle["student_resource_link"], "name": "Amina B.", c.ROLES: ["Instructor"]}
    signed_launch(client, platform, renamed)
    [person] = rows(app, Person)
    [membership] = rows(app, Membership)
    assert person.name == "Amina B." and membership.role is Role.ACCOMPAGNATEUR
    assert len(rows(app, Course)) == 1


def test_a_deep_linked_referentiel_is_offered_by_the_course(app, client, platform, moodle):
    claims = {
        **moodle["student_resource_link"],
        c.CUSTOM: {c.CUSTOM_REFERENTIEL: "TP-AM@2014-02-23"},
    }
    signed_launch(client, platform, claims)
    signed_launch(client, platform, claims)
    [course] = rows(app, Course)
    assert course.referentiels == ["TP-AM@2014-02-23"]


def test_the_platform_error_answer_gets_a_clear_page(app, client, platform):
    login = start_login(client, platform, LAUNCH_URL)
    response = client.post("/lti/launch", data={"error": "access_denied", "state": login.state})
    assert response.status_code == 400
    assert "Relancez" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "mangle",
    [
        {c.ROLES: "Learner"},
        {c.CONTEXT: "not-an-object"},
        {c.RESOURCE_LINK: ["id"]},
        {"aud": 42},
        {"aud": []},
        {"exp": "tomorrow"},
        {"iat": True},
        {"sub": 5},
        {c.DEPLOYMENT_ID: ["1"]},
        {"nonce": 7},
        {"sub": "x" * 256},
        {c.CONTEXT: {"id": "y" * 256, "title": "t"}},
        {c.VERSION: 1.3},
        {c.DL_SETTINGS: "x", c.MESSAGE_TYPE: c.DEEP_LINKING_REQUEST},
    ],
)
def test_malformed_claims_are_a_400_never_a_500(app, client, platform, moodle, mangle):
    login = start_login(client, platform, LAUNCH_URL)
    body = platform.claims(moodle["student_resource_link"], nonce=login.nonce, target=LAUNCH_URL)
    body.update(mangle)
    response = client.post(
        "/lti/launch", data={"id_token": platform.sign(body), "state": login.state}
    )
    assert response.status_code == 400
    assert session_actor(client) is None and rows(app, Person) == []


@pytest.mark.parametrize(
    "token", ["", "a.b", "....", "e30.e30.", "W10.e30.sig", "e30.W10.sig", "%%%.%%%.%%%"]
)
def test_garbage_tokens_are_a_400(app, client, platform, token):
    login = start_login(client, platform, LAUNCH_URL)
    response = client.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert response.status_code == 400


# --- cookies ---------------------------------------------------------------------------------


def _cookie_attrs(response: Any, prefix: str) -> set[str]:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(prefix):
            return {
                part.strip().split("=")[0].lower()
                + (
                    "=" + part.split("=", 1)[1].lower()
                    if part.strip().lower().startswith("samesite")
                    else ""
                )
                for part in header.split(";")[1:]
            }
    raise AssertionError(f"no cookie {prefix}: {response.headers.getlist('Set-Cookie')}")


def test_over_http_cookies_are_lax(app, client, platform, moodle):
    response, _ = signed_launch(client, platform, moodle["student_resource_link"])
    attrs = _cookie_attrs(response, "session=")
    assert "samesite=lax" in attrs and "secure" not in attrs and "partitioned" not in attrs


def test_over_https_cookies_are_secure_samesite_none_partitioned(app, platform, moodle):
    client = app.test_client()
    https = "https://127.0.0.1:5055"
    login = client.post(
        "/lti/login",
        base_url=https,
        data={
            "iss": platform.issuer,
            "login_hint": "5",
            "target_link_uri": LAUNCH_URL,
            "client_id": platform.client_id,
        },
    )
    attrs = _cookie_attrs(login, "lti_state_")
    assert {"secure", "samesite=none", "partitioned", "httponly"} <= attrs
    query = {k: v[0] for k, v in parse_qs(urlsplit(login.headers["Location"]).query).items()}
    token = platform.sign(
        platform.claims(moodle["student_resource_link"], nonce=query["nonce"], target=LAUNCH_URL)
    )
    launched = client.post(
        "/lti/launch", base_url=https, data={"id_token": token, "state": query["state"]}
    )
    assert launched.status_code == 303
    assert {"secure", "samesite=none", "partitioned", "httponly"} <= _cookie_attrs(
        launched, "session="
    )


def test_behind_a_trusted_proxy_x_forwarded_proto_makes_cookies_secure(settings, platform):
    proxied = settings.with_changes(trust_proxy=True)
    app = create_app(proxied)
    FakePlatform().register(app)
    client = app.test_client()
    response = client.post(
        "/lti/login",
        headers={"X-Forwarded-Proto": "https"},
        data={
            "iss": platform.issuer,
            "login_hint": "5",
            "target_link_uri": LAUNCH_URL,
            "client_id": platform.client_id,
        },
    )
    assert {"secure", "samesite=none", "partitioned"} <= _cookie_attrs(response, "lti_state_")
    app.extensions["reperes"].engine.dispose()


def test_without_trusted_proxy_x_forwarded_proto_is_ignored(app, client, platform):
    response = client.post(
        "/lti/login",
        headers={"X-Forwarded-Proto": "https"},
        data={
            "iss": platform.issuer,
            "login_hint": "5",
            "target_link_uri": LAUNCH_URL,
            "client_id": platform.client_id,
        },
    )
    assert "secure" not in _cookie_attrs(response, "lti_state_")


# --- no cookie: a new window -------------------------------------------------------------


def test_without_the_state_cookie_the_page_offers_a_new_window(app, platform, moodle):
    browser_frame = app.test_client()
    login = start_login(browser_frame, platform, LAUNCH_URL)
    browser_frame.delete_cookie(f"lti_state_{login.state[:16]}", path="/lti/")
    token = platform.sign(
        platform.claims(moodle["student_resource_link"], nonce=login.nonce, target=LAUNCH_URL)
    )
    page = browser_frame.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Ouvrir Repères dans une nouvelle fenêtre" in html and 'target="_blank"' in html
    assert session_actor(browser_frame) is None
    # The page's script hands ticket and binding to the window it opens (static/lti.js).
    config = json.loads(html.split('id="lti-config">', 1)[1].split("</script>")[0])
    fields = {"ticket": config["ticket"], "binding": config["binding"]}
    action, origin = "/lti/continue", {"Origin": "http://localhost"}
    new_window = app.test_client()
    opened = new_window.post(action, data=fields, headers=origin)
    assert opened.status_code == 303 and opened.headers["Location"] == "/"
    assert session_actor(new_window).role is Role.CANDIDAT
    again = app.test_client().post(action, data=fields, headers=origin)
    assert again.status_code == 400 and "déjà servi" in again.get_data(as_text=True)


# --- postMessage storage -------------------------------------------------------------------


def test_platform_storage_keeps_state_and_nonce_instead_of_a_cookie(app, client, platform, moodle):
    login = client.post(
        "/lti/login",
        data={
            "iss": platform.issuer,
            "login_hint": "5",
            "target_link_uri": LAUNCH_URL,
            "client_id": platform.client_id,
            "lti_storage_target": "_parent",
        },
    )
    assert login.status_code == 200
    assert not any(h.startswith("lti_state_") for h in login.headers.getlist("Set-Cookie"))
    html = login.get_data(as_text=True)
    config = json.loads(html.split('id="lti-config">', 1)[1].split("</script>")[0])
    assert config["target"] == "_parent" and config["origin"] == platform.issuer
    query = {k: v[0] for k, v in parse_qs(urlsplit(config["auth_url"]).query).items()}
    assert config["keys"] == [
        [f"reperes_state_{query['state']}", query["state"]],
        [f"reperes_nonce_{query['nonce']}", query["nonce"]],
    ]
    assert config["page"] == "login_storage" and 'src="/static/lti.js"' in html
    script = client.get("/static/lti.js").get_data(as_text=True)  # no inline script (CSP)
    assert "lti.put_data" in script and "org.imsglobal.lti." in script

    token = platform.sign(
        platform.claims(moodle["student_resource_link"], nonce=query["nonce"], target=LAUNCH_URL)
    )
    first = client.post("/lti/launch", data={"id_token": token, "state": query["state"]})
    assert first.status_code == 200 and '"page": "launch_storage"' in first.get_data(
        as_text=True
    )
    assert session_actor(client) is None and rows(app, Person) == []

    wrong = client.post(
        "/lti/launch",
        data={
            "id_token": token,
            "state": query["state"],
            "lti_storage_state": query["state"],
            "lti_storage_nonce": "another",
        },
    )
    assert wrong.status_code == 400 and rows(app, Person) == []

    proven = client.post(
        "/lti/launch",
        data={
            "id_token": token,
            "state": query["state"],
            "lti_storage_state": query["state"],
            "lti_storage_nonce": query["nonce"],
        },
    )
    assert proven.status_code == 200
    assert "/lti/session" in proven.get_data(
        as_text=True
    )  # checks the cookie stuck, else new window
    assert session_actor(client).role is Role.CANDIDAT
    assert client.get("/lti/session").json == {"signed_in": True}


def test_platform_storage_failing_falls_back_to_a_new_window(app, client, platform, moodle):
    login = start_login(client, platform, LAUNCH_URL, lti_storage_target="_parent")
    token = platform.sign(
        platform.claims(moodle["student_resource_link"], nonce=login.nonce, target=LAUNCH_URL)
    )
    page = client.post(
        "/lti/launch", data={"id_token": token, "state": login.state, "lti_storage_failed": "1"}
    )
    assert page.status_code == 200
    assert "nouvelle fenêtre" in page.get_data(as_text=True) and session_actor(client) is None


def test_a_storage_target_that_is_not_a_frame_name_is_ignored(app, client, platform):
    response = client.post(
        "/lti/login",
        data={
            "iss": platform.issuer,
            "login_hint": "5",
            "target_link_uri": LAUNCH_URL,
            "client_id": platform.client_id,
            "lti_storage_target": "javascript:alert(1)",
        },
    )
    assert response.status_code == 302


def test_session_endpoint_says_no_without_launch(client):
    assert client.get("/lti/session").json == {"signed_in": False}


def test_expired_states_are_purged_on_the_next_login(app, client, platform):
    from datetime import timedelta

    start_login(client, platform, LAUNCH_URL)
    with lti_context(app).sessions.begin() as session:
        for row in session.scalars(select(LtiLaunchState)):
            row.expires_at = row.expires_at - timedelta(hours=1)
    start_login(client, platform, LAUNCH_URL)
    with lti_context(app).sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(LtiLaunchState)) == 1
