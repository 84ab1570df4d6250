"""The /lti pages (issue 12): login CSRF on /lti/continue, the deep-linking return URL, CSP.

Hostile requests are made here: another browser holding a stolen ticket, a cross-site
POST, a platform whose deep-linking return URL is `javascript:` or on another site.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from integration.lti import claims as c
from tests.support import lti as lti_support
from tests.support.lti import (
    MOODLE_TOOL_BASE,
    FakePlatform,
    launch_as,
    moodle_id_token,
    read_form,
    session_actor,
    start_login,
)
from tests.test_pages_support import launched, post

settings = lti_support.moodle_tool_settings  # the recorded Moodle launches point here
OURS = "http://localhost"


def _config(html: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        html.split('id="lti-config">', 1)[1].split("</script>", 1)[0]
    )
    return found


def _new_window_ticket(demo_app: Flask) -> dict[str, Any]:
    """What the page « Ouvrir Repères dans une nouvelle fenêtre » holds for its script."""
    candidat = launched(demo_app)
    page = post(candidat, "/fenetre", token_from="/moi")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="ticket"' not in html, "the ticket is not in a form anyone can post"
    return _config(html)


# --- login CSRF on /lti/continue ------------------------------------------------------------


def test_a_ticket_redeemed_by_another_browser_is_refused(demo_app: Flask) -> None:
    config = _new_window_ticket(demo_app)
    other = demo_app.test_client()
    refused = other.post(
        "/lti/continue", data={"ticket": config["ticket"]}, headers={"Origin": OURS}
    )
    assert refused.status_code == 403
    assert session_actor(other) is None
    # The ticket was spent by that attempt: the binding alone does not bring it back.
    again = other.post(
        "/lti/continue",
        data={"ticket": config["ticket"], "binding": config["binding"]},
        headers={"Origin": OURS},
    )
    assert again.status_code == 400 and session_actor(other) is None


def test_the_new_window_with_ticket_and_binding_opens_repere(demo_app: Flask) -> None:
    config = _new_window_ticket(demo_app)
    window = demo_app.test_client()
    page = window.get("/lti/continue")
    assert page.status_code == 200 and _config(page.get_data(as_text=True))["page"] == "continue"
    opened = window.post(
        "/lti/continue",
        data={"ticket": config["ticket"], "binding": config["binding"]},
        headers={"Origin": OURS},
    )
    assert opened.status_code == 303
    assert window.get("/moi").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://attacker.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {},
    ],
    ids=["other-origin", "null-origin", "cross-site-without-origin", "no-origin-at-all"],
)
def test_a_cross_origin_post_to_lti_continue_is_refused(
    demo_app: Flask, headers: dict[str, str]
) -> None:
    config = _new_window_ticket(demo_app)
    victim = demo_app.test_client()
    refused = victim.post(
        "/lti/continue",
        data={"ticket": config["ticket"], "binding": config["binding"]},
        headers=headers,
    )
    assert refused.status_code == 403
    assert session_actor(victim) is None
    assert victim.get("/moi").status_code == 401


def test_a_same_origin_post_without_origin_header_is_accepted(demo_app: Flask) -> None:
    config = _new_window_ticket(demo_app)
    window = demo_app.test_client()
    opened = window.post(
        "/lti/continue",
        data={"ticket": config["ticket"], "binding": config["binding"]},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert opened.status_code == 303


# --- deep linking return URL ----------------------------------------------------------------


def _deep_linking_request(app: Flask, client: FlaskClient, shared_dir, return_url: str):  # type: ignore[no-untyped-def]
    platform = FakePlatform()
    platform.register(app)
    recorded = moodle_id_token(shared_dir, "deep_linking")
    recorded[c.DL_SETTINGS] = {**recorded[c.DL_SETTINGS], "deep_link_return_url": return_url}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        platform.serve(mock)
        target = MOODLE_TOOL_BASE + "/lti/launch"
        login = start_login(client, platform, target)
        token = platform.sign(platform.claims(recorded, nonce=login.nonce, target=target))
        return platform, client.post("/lti/launch", data={"id_token": token, "state": login.state})


@pytest.mark.parametrize(
    "return_url",
    [
        "javascript:alert(document.domain)",
        "JavaScript://127.0.0.1:8081/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "https://attacker.example/mod/lti/contentitem_return.php",
        "http://127.0.0.1:9999/mod/lti/contentitem_return.php",
        "http://x@127.0.0.1:8081/mod/lti/contentitem_return.php",
        'http://127.0.0.1:8081/a" onmouseover="x',
    ],
    ids=["javascript", "javascript-slashes", "data", "other-site", "other-port", "userinfo",
         "quote"],
)
def test_a_javascript_or_other_origin_deep_linking_return_url_is_refused(
    app: Flask, client: FlaskClient, shared_dir, return_url: str  # type: ignore[no-untyped-def]
) -> None:
    _, picker = _deep_linking_request(app, client, shared_dir, return_url)
    assert picker.status_code == 400
    assert 'name="ticket"' not in picker.get_data(as_text=True)


def test_the_platform_return_url_is_the_only_other_form_action(
    app: Flask, client: FlaskClient, shared_dir  # type: ignore[no-untyped-def]
) -> None:
    good = "http://127.0.0.1:8081/mod/lti/contentitem_return.php?course=2"
    _, picker = _deep_linking_request(app, client, shared_dir, good)
    assert picker.status_code == 200
    action, fields = read_form(picker.get_data(as_text=True))
    answer = client.post(action, data={"ticket": fields["ticket"], "choice": "parcours"})
    assert answer.status_code == 200
    assert read_form(answer.get_data(as_text=True))[0] == good
    policy = answer.headers["Content-Security-Policy"]
    assert "form-action 'self' http://127.0.0.1:8081;" in policy
    assert "script-src 'self';" in policy


# --- CSP on every /lti page -----------------------------------------------------------------


def _assert_strict_page(response: Any) -> None:
    from integration.pages.web import CSP

    assert response.mimetype == "text/html"
    policy = response.headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in policy and "object-src 'none'" in policy, response.request.path
    assert policy == CSP or "form-action 'self' " in policy
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    html = response.get_data(as_text=True)
    # No inline script would run under that policy: only JSON data and our own files.
    for chunk in html.split("<script")[1:]:
        head = chunk.split(">", 1)[0]
        assert 'type="application/json"' in head or "src=" in head, (response.request.path, head)


def _demo_launch_pages(app: Flask, *, storage: bool) -> list[Any]:
    """A demo launch whose browser keeps no state cookie: every page the tool shows."""
    from integration.demo_platform import demo_of

    browser = app.test_client()
    login_url, fields = demo_of(app).login_initiation("accompagnatrice", "rae")
    if storage:
        fields = {**fields, "lti_storage_target": "_parent"}
    shown = []
    login = browser.post(lti_support._path(login_url), data=fields)
    if storage:
        shown.append(login)  # lti/login_storage.html
        auth_url = _config(login.get_data(as_text=True))["auth_url"]
    else:
        assert login.status_code == 302
        auth_url = login.headers["Location"]
    for cookie in list(browser._cookies.values()):  # a frame that keeps no cookie
        browser.delete_cookie(cookie.key, domain=cookie.domain, path=cookie.path)
    auth = browser.get(lti_support._path(auth_url))
    action, form = read_form(auth.get_data(as_text=True))
    launch = browser.post(lti_support._path(action), data=form)
    shown.append(launch)
    if storage:  # lti/launch_storage.html; the platform's storage is not reachable here
        action, form = read_form(launch.get_data(as_text=True))
        form = {k: v for k, v in form.items() if not k.startswith("lti_storage")}
        shown.append(browser.post(action, data={**form, "lti_storage_failed": "1"}))
    return shown


def test_csp_on_every_lti_html_page(demo_app: Flask) -> None:
    pages = _demo_launch_pages(demo_app, storage=True) + _demo_launch_pages(demo_app, storage=False)
    titles = [_title(p) for p in pages]
    assert titles.count("Ouvrir Repères") == 2 and "Ouverture" in titles, titles
    client = demo_app.test_client()
    pages.append(client.get("/lti/continue"))  # lti/continue.html
    pages.append(client.post("/lti/continue", data={"ticket": "x"}))  # error page
    pages.append(client.get("/lti/register?openid_configuration="))  # error page
    deep = demo_app.test_client()
    picker = launch_as(deep, "accompagnatrice", kind="deep_link").response
    pages.append(picker)  # lti/deep_linking.html
    action, form = read_form(picker.get_data(as_text=True))
    pages.append(deep.post(action, data={"ticket": form["ticket"], "choice": "parcours"}))
    assert [p.status_code for p in pages].count(200) >= 7
    for response in pages:
        _assert_strict_page(response)


def _title(response: Any) -> str:
    html = response.get_data(as_text=True)
    return html.split("<title>", 1)[1].split(" – Repères", 1)[0] if "<title>" in html else ""
