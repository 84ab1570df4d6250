"""Plain-HTTP trials (issue 18): Moodle's « new window » launch opens Repères in one click.

Over plain HTTP the state cookie is `SameSite=Lax`, and Moodle returns with a cross-site
form POST: the cookie does not come back. A top-level navigation posted by the platform's
own login origin is bound without it (the browser's `Sec-Fetch-Dest: document`,
`Sec-Fetch-Mode: navigate` and `Origin`, which no page can set). The attacker's tests: the
same POST from another site (login CSRF: a victim signed in as the attacker), from a frame,
without `Origin`, or replayed, signs nobody in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from integration.models import Role
from tests.support import lti as lti_support
from tests.support.lti import (
    MOODLE_ISSUER,
    MOODLE_TOOL_BASE,
    FakePlatform,
    moodle_id_token,
    session_actor,
    start_login,
)

settings = lti_support.moodle_tool_settings
LAUNCH_URL = MOODLE_TOOL_BASE + "/lti/launch"

#: What Chromium sends with Moodle's auto-submitted form in a new window (or a new tab).
NEW_WINDOW = {
    "Origin": MOODLE_ISSUER,
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Site": "cross-site",
}
#: The same form in Moodle's embedded frame.
FRAME = {**NEW_WINDOW, "Sec-Fetch-Dest": "iframe"}


@pytest.fixture
def student(shared_dir: Path) -> dict[str, Any]:
    return moodle_id_token(shared_dir, "student_resource_link")


def _launch_without_cookie(
    client: FlaskClient, platform: FakePlatform, student: dict[str, Any], headers: dict[str, str]
) -> Any:
    login = start_login(client, platform, LAUNCH_URL)
    client.delete_cookie(f"lti_state_{login.state[:16]}", path="/lti/")  # Lax: not sent
    token = platform.sign(platform.claims(student, nonce=login.nonce, target=LAUNCH_URL))
    return client.post("/lti/launch", data={"id_token": token, "state": login.state},
                       headers=headers), token, login


def test_a_new_window_over_http_opens_in_one_click(
    app: Flask, client: FlaskClient, fake_platform: FakePlatform, student: dict[str, Any]
) -> None:
    response, _, _ = _launch_without_cookie(client, fake_platform, student, NEW_WINDOW)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    actor = session_actor(client)
    assert actor is not None and actor.role is Role.CANDIDAT


def test_the_same_post_from_another_site_signs_nobody_in(
    app: Flask, fake_platform: FakePlatform, student: dict[str, Any]
) -> None:
    # The attacker logs in as themselves, keeps their id_token and state, and has the
    # victim's browser post them from the attacker's page: a top-level navigation too.
    attacker = app.test_client()
    hostile = {**NEW_WINDOW, "Origin": "http://evil.example"}
    response, _, _ = _launch_without_cookie(attacker, fake_platform, student, hostile)
    assert session_actor(attacker) is None
    assert response.status_code == 200  # the usual page: a new window with a ticket
    html = response.get_data(as_text=True)
    assert "Repères n’a pas pu s’ouvrir tout seul" in html


@pytest.mark.parametrize(
    "headers",
    [
        {k: v for k, v in NEW_WINDOW.items() if k != "Origin"},
        {**NEW_WINDOW, "Origin": "null"},
        {**NEW_WINDOW, "Sec-Fetch-Mode": "cors"},
        {"Origin": MOODLE_ISSUER},  # an old browser: no Sec-Fetch-*: no binding
    ],
)
def test_without_the_browsers_word_the_launch_is_not_bound(
    app: Flask, fake_platform: FakePlatform, student: dict[str, Any], headers: dict[str, str]
) -> None:
    browser = app.test_client()
    response, _, _ = _launch_without_cookie(browser, fake_platform, student, headers)
    assert response.status_code == 200 and session_actor(browser) is None


def test_in_a_frame_the_page_says_here_and_opens_a_new_window(
    app: Flask, fake_platform: FakePlatform, student: dict[str, Any]
) -> None:
    browser = app.test_client()
    response, _, _ = _launch_without_cookie(browser, fake_platform, student, FRAME)
    assert response.status_code == 200 and session_actor(browser) is None
    html = response.get_data(as_text=True)
    assert "Repères ne peut pas s’ouvrir ici" in html and "dans cette page" in html


def test_a_new_window_launch_replayed_is_refused(
    app: Flask, client: FlaskClient, fake_platform: FakePlatform, student: dict[str, Any]
) -> None:
    first, token, login = _launch_without_cookie(client, fake_platform, student, NEW_WINDOW)
    assert first.status_code == 303
    again = app.test_client()
    replayed = again.post("/lti/launch", data={"id_token": token, "state": login.state},
                          headers=NEW_WINDOW)
    assert replayed.status_code == 400 and session_actor(again) is None
