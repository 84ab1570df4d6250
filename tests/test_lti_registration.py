"""LTI Dynamic Registration as Moodle 4.3 runs it — open only to invited platforms."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from sqlalchemy import select

from integration.lti.context import lti_context
from integration.lti.models import LtiRegistrationInvite
from integration.lti.registration import invite
from integration.models import Platform
from tests.support import lti as lti_support

CONFIG_URL = "http://127.0.0.1:8081/mod/lti/openid-configuration.php"
REGISTRATION_URL = "http://127.0.0.1:8081/mod/lti/openid-registration.php"


settings = lti_support.moodle_tool_settings  # the recorded registration points at its address


@pytest.fixture
def recorded(shared_dir: Path) -> dict[str, Any]:
    return dict(
        json.loads((shared_dir / "data/moodle-4.3/lti/dynamic_registration.json").read_text())
    )


@pytest.fixture
def moodle(recorded) -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.add(responses.GET, CONFIG_URL, json=recorded["openid_configuration"]["json"])
        rsps.add(responses.POST, REGISTRATION_URL, json=recorded["registration_response"]["body"])
        yield rsps


def make_invite(app, **kwargs: Any) -> str | None:
    with lti_context(app).sessions.begin() as session:
        return invite(session, **kwargs)[1]


def register(client, recorded, **extra: str):
    args = dict(recorded["initiation_request"]["args"], **extra)
    return client.get("/lti/register", query_string=args)


def stored(app) -> list[Platform]:
    with lti_context(app).sessions.begin() as session:
        found = list(session.scalars(select(Platform)))
        for p in found:
            p.deployments  # noqa: B018
        return found


def test_invited_moodle_registers_and_the_window_closes(app, client, moodle, recorded):
    token = make_invite(app)
    response = register(client, recorded, invite=token)
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert '{"page": "registered"}' in page and 'src="/static/lti.js"' in page
    assert "org.imsglobal.lti.close" in client.get("/static/lti.js").get_data(as_text=True)
    assert "doit maintenant l’activer" in page and "en attente" in page
    [platform] = stored(app)
    assert (platform.issuer, platform.client_id) == ("http://127.0.0.1:8081", "0T31ZiSXexg7349")
    assert platform.auth_url.endswith("/mod/lti/auth.php")
    assert platform.token_url.endswith("/mod/lti/token.php")
    assert platform.jwks_url.endswith("/mod/lti/certs.php")
    assert [d.deployment_id for d in platform.deployments] == ["2"]

    sent = [call for call in moodle.calls if call.request.url == REGISTRATION_URL][0].request
    assert (
        sent.headers["Authorization"]
        == f"Bearer {recorded['initiation_request']['args']['registration_token']}"
    )
    body = json.loads(sent.body)
    assert body["initiate_login_uri"] == "http://127.0.0.1:5055/lti/login"
    assert body["redirect_uris"] == ["http://127.0.0.1:5055/lti/launch"]
    assert body["jwks_uri"] == "http://127.0.0.1:5055/lti/jwks"
    assert body["token_endpoint_auth_method"] == "private_key_jwt"
    tool = body["https://purl.imsglobal.org/spec/lti-tool-configuration"]
    assert tool["domain"] == "127.0.0.1:5055"
    assert {m["type"] for m in tool["messages"]} == {
        "LtiResourceLinkRequest",
        "LtiDeepLinkingRequest",
    }
    assert "contextmembership.readonly" in body["scope"] and "/score" in body["scope"]


def test_a_one_time_url_works_once(app, client, moodle, recorded):
    token = make_invite(app)
    assert register(client, recorded, invite=token).status_code == 200
    calls = len(moodle.calls)
    again = register(client, recorded, invite=token)
    assert again.status_code == 403 and "pas autorisé" in again.get_data(as_text=True)
    assert len(moodle.calls) == calls, "a refused registration calls nobody"


def test_uninvited_platform_is_refused_and_nothing_is_fetched_or_stored(app, client, recorded):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as nothing_answered:
        response = register(client, recorded)
        assert response.status_code == 403
        assert "reperes platform invite" in response.get_data(as_text=True)
        assert register(client, recorded, invite="forged").status_code == 403
    assert len(nothing_answered.calls) == 0 and stored(app) == []


def test_an_allowed_host_may_register(app, client, moodle, recorded):
    make_invite(app, host="127.0.0.1:8081")
    assert register(client, recorded).status_code == 200
    assert len(stored(app)) == 1


def test_issuer_must_match_the_configuration_host(app, client, recorded):
    make_invite(app, host="127.0.0.1:8081")
    config = dict(
        recorded["openid_configuration"]["json"], issuer="https://moodle.elsewhere.example"
    )
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.add(responses.GET, CONFIG_URL, json=config)
        # No answer for the registration POST: it must never be sent.
        response = register(client, recorded)
        assert [call.request.method for call in rsps.calls] == ["GET"]
    assert response.status_code == 502 and stored(app) == []


def test_a_platform_refusal_stores_nothing_and_spends_the_invite(app, client, recorded):
    token = make_invite(app)
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.add(responses.GET, CONFIG_URL, json=recorded["openid_configuration"]["json"])
        rsps.add(responses.POST, REGISTRATION_URL, status=401, body="token_already_used")
        response = register(client, recorded, invite=token)
    assert response.status_code == 502 and "Recommencez" in response.get_data(as_text=True)
    assert stored(app) == []
    with lti_context(app).sessions.begin() as session:
        # Spent by its first use, successful or not: the operator makes a new one.
        assert session.scalars(select(LtiRegistrationInvite)).one().used_at is not None


def test_register_without_parameters_explains(client):
    response = client.get("/lti/register")
    assert response.status_code == 400
    assert "administration de Moodle" in response.get_data(as_text=True)
