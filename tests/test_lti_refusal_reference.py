"""A launch refused because of how a platform is set up tells the person to show the page to
their coordinateur, with a short reference the operator finds in the log line (issue 18).
A bad token (replayed, badly signed) keeps the plain refusal, with no reference."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from integration.lti.context import lti_context
from integration.models import Platform
from tests.support import lti as lti_support
from tests.support.lti import MOODLE_TOOL_BASE, FakePlatform, moodle_id_token, start_login

LAUNCH_URL = MOODLE_TOOL_BASE + "/lti/launch"
REFERENCE = re.compile(r'<strong class="reference">([0-9A-F]{8})</strong>')

settings = lti_support.moodle_tool_settings


@pytest.fixture
def platform(fake_platform: FakePlatform) -> FakePlatform:
    return fake_platform


@pytest.fixture
def login_form(shared_dir: Path) -> dict[str, str]:
    flow = json.loads(
        (shared_dir / "data/moodle-4.3/lti/student_resource_link__flow.json").read_text()
    )
    return dict(flow["login_initiation_form"]["fields"])


@pytest.fixture
def student(shared_dir: Path) -> dict[str, Any]:
    return moodle_id_token(shared_dir, "student_resource_link")


def _shown_and_logged(response: Any, caplog: pytest.LogCaptureFixture) -> str:
    html = response.get_data(as_text=True)
    found = REFERENCE.search(html)
    assert found, html[:1500]
    assert "Montrez cette page à votre coordinateur" in html
    reference = found.group(1)
    lines = [r.getMessage() for r in caplog.records if f"[ref {reference}]" in r.getMessage()]
    assert len(lines) == 1 and "LTI refused" in lines[0]
    return lines[0]


def _plain(response: Any) -> None:
    html = response.get_data(as_text=True)
    assert "Repères n’a pas pu s’ouvrir" in html or "a déjà servi" in html
    assert REFERENCE.search(html) is None and "coordinateur" not in html


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"client_id": "unknown-client"}, "unregistered issuer"),
        ({"lti_deployment_id": "42"}, "deployment '42' is not registered"),
    ],
)
def test_an_unknown_client_id_or_deployment_says_to_show_the_coordinateur(
    client, platform, login_form, caplog, change, reason
) -> None:
    caplog.set_level(logging.INFO, logger="integration.lti")
    response = client.post("/lti/login", data={**login_form, **change})
    assert response.status_code == 400
    assert reason in _shown_and_logged(response, caplog)


def test_a_platform_switched_off_says_to_show_the_coordinateur(
    app, client, platform, login_form, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="integration.lti")
    with lti_context(app).sessions.begin() as session:
        session.get(Platform, platform.platform_id).active = False
    response = client.post("/lti/login", data=login_form)
    assert response.status_code == 403
    assert "switched off" in _shown_and_logged(response, caplog)


def test_two_refusals_get_two_references(client, platform, login_form) -> None:
    bad = {**login_form, "client_id": "unknown-client"}
    first = REFERENCE.search(client.post("/lti/login", data=bad).get_data(as_text=True))
    second = REFERENCE.search(client.post("/lti/login", data=bad).get_data(as_text=True))
    assert first and second and first.group(1) != second.group(1)


def test_an_unreachable_platform_key_set_says_to_show_the_coordinateur(
    app, client, platform, student, platform_http: responses.RequestsMock, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="integration.lti")
    # Moodle's keys cannot be read (a wrong key set URL, Moodle down).
    platform_http.replace(responses.GET, platform.jwks_url,
                          body=requests.ConnectionError("refused"))
    login = start_login(client, platform, LAUNCH_URL)
    token = platform.sign(platform.claims(student, nonce=login.nonce, target=LAUNCH_URL))
    response = client.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert response.status_code == 502
    assert "cannot read the platform JWKS" in _shown_and_logged(response, caplog)


def test_a_token_with_an_unknown_client_id_says_to_show_the_coordinateur(
    client, platform, student, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="integration.lti")
    login = start_login(client, platform, LAUNCH_URL)
    body = platform.claims(student, nonce=login.nonce, target=LAUNCH_URL, aud="not-ours")
    response = client.post("/lti/launch",
                           data={"id_token": platform.sign(body), "state": login.state})
    assert response.status_code == 400
    assert "is not registered" in _shown_and_logged(response, caplog)


def test_a_badly_signed_or_replayed_token_keeps_the_plain_refusal(
    app, client, platform, student, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="integration.lti")
    login = start_login(client, platform, LAUNCH_URL)
    body = platform.claims(student, nonce=login.nonce, target=LAUNCH_URL)
    forged = platform.sign(body, key=lti_support.test_key(7))  # the attacker's key
    refused = client.post("/lti/launch", data={"id_token": forged, "state": login.state})
    assert refused.status_code == 400
    _plain(refused)
    assert "signature does not verify" in caplog.text and "[ref " not in caplog.text
    # A launch replayed: the state was used already.
    login = start_login(client, platform, LAUNCH_URL)
    good = platform.sign(platform.claims(student, nonce=login.nonce, target=LAUNCH_URL))
    assert client.post("/lti/launch", data={"id_token": good, "state": login.state}
                       ).status_code in (200, 302, 303)
    replayed = app.test_client().post("/lti/launch", data={"id_token": good, "state": login.state})
    assert replayed.status_code == 400
    _plain(replayed)
