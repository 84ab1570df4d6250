"""The LTI Advantage certification cases for tools, one named test each, plus the attacks a
strict tool must refuse. The id_tokens have the shape of real Moodle 4.3 launches (the
recorded ones, re-signed with a test key and fresh times)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration.lti import claims as c
from integration.lti.context import lti_context
from integration.models import Course, Membership, Person, Role
from tests.support import lti as lti_support
from tests.support.lti import (
    MOODLE_TOOL_BASE,
    FakePlatform,
    moodle_id_token,
    session_actor,
    start_login,
)

LAUNCH_URL = MOODLE_TOOL_BASE + "/lti/launch"
LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
INSTRUCTOR = LIS + "membership#Instructor"
LEARNER = LIS + "membership#Learner"


settings = lti_support.moodle_tool_settings  # the recorded launches point at its address


@pytest.fixture
def mock(platform_http: responses.RequestsMock) -> responses.RequestsMock:
    return platform_http


@pytest.fixture
def platform(fake_platform: FakePlatform) -> FakePlatform:
    return fake_platform


@pytest.fixture
def student(shared_dir: Path) -> dict[str, Any]:
    return moodle_id_token(shared_dir, "student_resource_link")


@pytest.fixture
def teacher(shared_dir: Path) -> dict[str, Any]:
    return moodle_id_token(shared_dir, "teacher_resource_link")


def launch(
    client: FlaskClient,
    platform: FakePlatform,
    base: dict[str, Any],
    *,
    drop: tuple[str, ...] = (),
    header: dict[str, Any] | None = None,
    kid: str | None = None,
    **overrides: Any,
) -> Any:
    login = start_login(client, platform, LAUNCH_URL)
    body = platform.claims(base, nonce=login.nonce, target=LAUNCH_URL)
    body.update(overrides)
    for name in drop:
        body.pop(name, None)
    token = platform.sign(body, kid=kid, headers=header)
    return client.post("/lti/launch", data={"id_token": token, "state": login.state})


def count(app: Flask, model: type) -> int:
    with lti_context(app).sessions.begin() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def person(app: Flask, sub: str) -> Person | None:
    with lti_context(app).sessions.begin() as session:
        return session.scalar(select(Person).where(Person.sub == sub))


def assert_refused(
    app: Flask, client: FlaskClient, response: Any, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)[:300]
    page = response.get_data(as_text=True)
    assert "Relancez" in page or "Moodle" in page
    assert session_actor(client) is None
    assert count(app, Person) == 0 and count(app, Course) == 0 and count(app, Membership) == 0
    assert reason in caplog.text, caplog.text


def assert_launched(client: FlaskClient, response: Any, role: Role) -> None:
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    assert response.headers["Location"] == "/"
    actor = session_actor(client)
    assert actor is not None and actor.role is role


@pytest.fixture(autouse=True)
def _logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="integration.lti")


# --- known bad payloads ----------------------------------------------------------------


def test_no_kid_sent_in_jwt_header(app, client, platform, student, caplog):
    login = start_login(client, platform, LAUNCH_URL)
    body = platform.claims(student, nonce=login.nonce, target=LAUNCH_URL)
    import jwt

    token = jwt.encode(body, platform.keys[platform.kid], algorithm="RS256")  # no kid
    response = client.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert_refused(app, client, response, "no kid", caplog)


def test_incorrect_kid_in_jwt_header(app, client, platform, student, caplog):
    response = launch(client, platform, student, header={"kid": "not-a-platform-kid"})
    assert_refused(
        app, client, response, "'not-a-platform-kid' is not in the platform JWKS", caplog
    )


def test_wrong_lti_version(app, client, platform, student, caplog):
    response = launch(client, platform, student, **{c.VERSION: "1.2.0"})
    assert_refused(app, client, response, "LTI version '1.2.0' is not 1.3.0", caplog)


def test_no_lti_version(app, client, platform, student, caplog):
    response = launch(client, platform, student, drop=(c.VERSION,))
    assert_refused(app, client, response, "no LTI version claim", caplog)


def test_invalid_lti_message_not_a_jwt(app, client, platform, caplog):
    login = start_login(client, platform, LAUNCH_URL)
    response = client.post(
        "/lti/launch", data={"id_token": "this.is-not.a-jwt", "state": login.state}
    )
    assert_refused(app, client, response, "not a JWT", caplog)
    response = client.post("/lti/launch", data={"id_token": "nonsense", "state": login.state})
    assert_refused(app, client, response, "not a JWT", caplog)


def test_missing_lti_claims(app, client, platform, student, caplog):
    lti_claims = tuple(k for k in student if k.startswith("https://purl.imsglobal.org/"))
    response = launch(client, platform, student, drop=lti_claims)
    assert_refused(app, client, response, "no LTI version claim", caplog)


def test_timestamps_incorrect(app, client, platform, student, caplog):
    past = int(time.time()) - 3600
    response = launch(client, platform, student, iat=past, exp=past + 60)
    assert_refused(app, client, response, "expired", caplog)
    future = int(time.time()) + 3600
    response = launch(client, platform, student, iat=future, exp=future + 60)
    assert_refused(app, client, response, "in the future", caplog)
    response = launch(client, platform, student, iat=past, exp=past + 7200)
    assert_refused(app, client, response, "too old", caplog)


def test_message_type_claim_missing(app, client, platform, student, caplog):
    response = launch(client, platform, student, drop=(c.MESSAGE_TYPE,))
    assert_refused(app, client, response, "no message_type claim", caplog)


def test_unknown_message_type(app, client, platform, student, caplog):
    response = launch(client, platform, student, **{c.MESSAGE_TYPE: "LtiStartProctoring"})
    assert_refused(app, client, response, "'LtiStartProctoring' is not supported", caplog)


def test_role_claim_missing(app, client, platform, student, caplog):
    response = launch(client, platform, student, drop=(c.ROLES,))
    assert_refused(app, client, response, "no roles claim", caplog)


def test_deployment_id_claim_missing(app, client, platform, student, caplog):
    response = launch(client, platform, student, drop=(c.DEPLOYMENT_ID,))
    assert_refused(app, client, response, "no deployment_id claim", caplog)


def test_resource_link_id_claim_missing(app, client, platform, student, caplog):
    link = {k: v for k, v in student[c.RESOURCE_LINK].items() if k != "id"}
    response = launch(client, platform, student, **{c.RESOURCE_LINK: link})
    assert_refused(app, client, response, "no resource_link id", caplog)


def test_user_claim_missing(app, client, platform, student, caplog):
    response = launch(client, platform, student, drop=("sub",))
    assert_refused(app, client, response, "no sub claim", caplog)


# --- attacks beyond the guide --------------------------------------------------------------


def test_replayed_nonce_is_refused(app, client, platform, student, caplog):
    login = start_login(client, platform, LAUNCH_URL)
    token = platform.sign(platform.claims(student, nonce=login.nonce, target=LAUNCH_URL))
    first = client.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert_launched(client, first, Role.CANDIDAT)
    other = app.test_client()
    again = other.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert again.status_code == 400 and session_actor(other) is None
    # With a fresh login (a new state), the old token's nonce does not match.
    fresh = start_login(other, platform, LAUNCH_URL)
    replay = other.post("/lti/launch", data={"id_token": token, "state": fresh.state})
    assert replay.status_code == 400 and session_actor(other) is None
    assert "nonce does not match" in caplog.text


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_alg_none_is_refused(app, client, platform, student, caplog):
    login = start_login(client, platform, LAUNCH_URL)
    body = platform.claims(student, nonce=login.nonce, target=LAUNCH_URL)
    header = {"alg": "none", "kid": platform.kid, "typ": "JWT"}
    token = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}."
    response = client.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert_refused(app, client, response, "alg 'none' refused", caplog)


def test_hs256_signed_with_the_platform_public_key_is_refused(
    app, client, platform, student, caplog
):
    login = start_login(client, platform, LAUNCH_URL)
    body = platform.claims(student, nonce=login.nonce, target=LAUNCH_URL)
    public_pem = (
        platform.keys[platform.kid]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "kid": platform.kid, "typ": "JWT"}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(body).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{_b64(signature)}"
    response = client.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert_refused(app, client, response, "alg 'HS256' refused", caplog)


def test_signature_by_another_key_is_refused(app, client, platform, student, caplog):
    from cryptography.hazmat.primitives.asymmetric import rsa

    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    login = start_login(client, platform, LAUNCH_URL)
    token = platform.sign(
        platform.claims(student, nonce=login.nonce, target=LAUNCH_URL), key=stranger
    )
    response = client.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert_refused(app, client, response, "signature does not verify", caplog)


def test_untrusted_extra_audience_is_refused(app, client, platform, student, caplog):
    response = launch(
        client, platform, student, aud=[platform.client_id, "someone-else"], azp=platform.client_id
    )
    assert_refused(app, client, response, "untrusted audience(s) ['someone-else']", caplog)


def test_several_audiences_need_azp(app, client, platform, student, caplog):
    other = FakePlatform(client_id="second-client")
    other.register(app, second_registration=True)  # two tool registrations in one Moodle
    response = launch(client, platform, student, aud=[platform.client_id, "second-client"])
    assert_refused(app, client, response, "several audiences and no azp", caplog)
    response = launch(
        client, platform, student, aud=[platform.client_id, "second-client"], azp=platform.client_id
    )
    assert_launched(client, response, Role.CANDIDAT)


def test_audience_not_ours_is_refused(app, client, platform, student, caplog):
    response = launch(client, platform, student, aud="another-tool")
    assert_refused(app, client, response, "'another-tool' is not registered", caplog)


def test_unknown_deployment_is_refused(app, client, platform, student, caplog):
    response = launch(client, platform, student, **{c.DEPLOYMENT_ID: "99"})
    assert_refused(app, client, response, "deployment '99' is not registered", caplog)


def test_unknown_issuer_is_refused(app, client, platform, student, caplog):
    response = launch(client, platform, student, iss="https://evil.example")
    assert_refused(app, client, response, "issuer 'https://evil.example' is not registered", caplog)


def test_target_link_uri_must_match_the_login(app, client, platform, student, caplog):
    response = launch(
        client, platform, student, **{c.TARGET_LINK_URI: MOODLE_TOOL_BASE + "/elsewhere"}
    )
    assert_refused(app, client, response, "target_link_uri differs", caplog)


def test_wrong_nonce_is_refused(app, client, platform, student, caplog):
    response = launch(client, platform, student, nonce="another-nonce")
    assert_refused(app, client, response, "nonce does not match", caplog)


def test_state_unknown_is_refused(app, client, platform, student, caplog):
    login = start_login(client, platform, LAUNCH_URL)
    token = platform.sign(platform.claims(student, nonce=login.nonce, target=LAUNCH_URL))
    response = client.post("/lti/launch", data={"id_token": token, "state": "forged"})
    assert_refused(app, client, response, "state unknown", caplog)


def test_platform_rotated_its_key_new_kid_is_fetched_once(app, client, platform, student, caplog):
    assert_launched(client, launch(client, platform, student), Role.CANDIDAT)
    assert platform.jwks_fetches == 1
    assert_launched(client, launch(client, platform, student), Role.CANDIDAT)
    assert platform.jwks_fetches == 1, "a known kid is served from the cache"
    platform.rotate()
    assert_launched(client, launch(client, platform, student), Role.CANDIDAT)
    assert platform.jwks_fetches == 2, "a new kid makes exactly one new fetch"
    # A kid the platform does not publish: one fetch, then refused without more fetches.
    for _ in range(3):
        response = launch(client, platform, student, header={"kid": "kid-unknown"})
        assert response.status_code == 400
    assert platform.jwks_fetches == 3


def test_a_refused_launch_never_logs_the_token(app, client, platform, student, caplog):
    login = start_login(client, platform, LAUNCH_URL)
    token = platform.sign(
        platform.claims(student, nonce=login.nonce, target=LAUNCH_URL, **{c.VERSION: "9"})
    )
    client.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert "is not 1.3.0" in caplog.text
    assert token not in caplog.text and token.split(".")[1] not in caplog.text


# --- valid teacher launches ------------------------------------------------------------


def test_valid_instructor_launch(app, client, platform, teacher):
    assert_launched(client, launch(client, platform, teacher), Role.ACCOMPAGNATEUR)
    stored = person(app, "3")
    assert stored is not None and stored.name == "Claire Dubois"
    assert stored.email == "claire.dubois@example.com" and stored.username == "teacher1"


def test_valid_instructor_launch_with_several_roles(app, client, platform, teacher):
    roles = [
        INSTRUCTOR,
        LIS + "membership/Instructor#TeachingAssistant",
        LIS + "institution/person#Faculty",
    ]
    assert_launched(
        client, launch(client, platform, teacher, **{c.ROLES: roles}), Role.ACCOMPAGNATEUR
    )


def test_valid_instructor_launch_with_short_role(app, client, platform, teacher):
    assert_launched(
        client, launch(client, platform, teacher, **{c.ROLES: ["Instructor"]}), Role.ACCOMPAGNATEUR
    )


def test_valid_instructor_launch_with_unknown_role(app, client, platform, teacher):
    roles = [INSTRUCTOR, "http://example.org/roles#Wizard"]
    assert_launched(
        client, launch(client, platform, teacher, **{c.ROLES: roles}), Role.ACCOMPAGNATEUR
    )


def test_valid_instructor_launch_email_only(app, client, platform, teacher):
    response = launch(client, platform, teacher, drop=("name", "given_name", "family_name"))
    assert_launched(client, response, Role.ACCOMPAGNATEUR)
    stored = person(app, "3")
    assert stored is not None and stored.email == "claire.dubois@example.com" and stored.name == ""


def test_valid_instructor_launch_names_only(app, client, platform, teacher):
    response = launch(client, platform, teacher, drop=("email",))
    assert_launched(client, response, Role.ACCOMPAGNATEUR)
    stored = person(app, "3")
    assert stored is not None and stored.given_name == "Claire" and stored.email == ""


def test_valid_instructor_launch_no_personal_data(app, client, platform, teacher):
    response = launch(
        client,
        platform,
        teacher,
        drop=("name", "given_name", "family_name", "email", c.EXT, c.LIS_CLAIM),
    )
    assert_launched(client, response, Role.ACCOMPAGNATEUR)
    stored = person(app, "3")
    assert stored is not None and (stored.name, stored.email, stored.username) == ("", "", "")


def test_valid_instructor_launch_no_context(app, client, platform, teacher):
    response = launch(client, platform, teacher, drop=(c.CONTEXT,))
    assert_launched(client, response, Role.ACCOMPAGNATEUR)
    with lti_context(app).sessions.begin() as session:
        course = session.scalars(select(Course)).one()
        assert course.context_id == "" and course.title == "Hors cours"


# --- valid student launches ------------------------------------------------------------


def test_valid_student_launch(app, client, platform, student):
    assert_launched(client, launch(client, platform, student), Role.CANDIDAT)
    stored = person(app, "5")
    assert stored is not None and stored.name == "Amina Benali" and not stored.is_coordinateur


def test_valid_student_launch_with_several_roles(app, client, platform, student):
    roles = [LEARNER, LIS + "institution/person#Student", LIS + "membership#Member"]
    assert_launched(client, launch(client, platform, student, **{c.ROLES: roles}), Role.CANDIDAT)


def test_valid_student_launch_with_short_role(app, client, platform, student):
    assert_launched(
        client, launch(client, platform, student, **{c.ROLES: ["Learner"]}), Role.CANDIDAT
    )


def test_valid_student_launch_with_unknown_role(app, client, platform, student):
    roles = ["http://example.org/roles#Apprentice"]
    assert_launched(client, launch(client, platform, student, **{c.ROLES: roles}), Role.CANDIDAT)


def test_valid_student_launch_with_empty_roles(app, client, platform, student):
    assert_launched(client, launch(client, platform, student, **{c.ROLES: []}), Role.CANDIDAT)


def test_valid_student_launch_email_only(app, client, platform, student):
    response = launch(client, platform, student, drop=("name", "given_name", "family_name"))
    assert_launched(client, response, Role.CANDIDAT)
    stored = person(app, "5")
    assert stored is not None and stored.email == "amina.benali@example.com"


def test_valid_student_launch_names_only(app, client, platform, student):
    response = launch(client, platform, student, drop=("email",))
    assert_launched(client, response, Role.CANDIDAT)
    stored = person(app, "5")
    assert stored is not None and stored.family_name == "Benali" and stored.email == ""


def test_valid_student_launch_no_personal_data(app, client, platform, student):
    response = launch(
        client,
        platform,
        student,
        drop=("name", "given_name", "family_name", "email", c.EXT, c.LIS_CLAIM),
    )
    assert_launched(client, response, Role.CANDIDAT)


def test_valid_student_launch_no_context(app, client, platform, student):
    response = launch(client, platform, student, drop=(c.CONTEXT, c.NRPS, c.AGS))
    assert_launched(client, response, Role.CANDIDAT)


def test_unknown_claims_are_ignored(app, client, platform, student):
    response = launch(
        client, platform, student, **{"https://example.org/claim/extra": {"x": 1}, "foo": "bar"}
    )
    assert_launched(client, response, Role.CANDIDAT)
