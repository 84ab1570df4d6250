"""Dynamic registration cannot be used to take over a platform (issue 12, critical).

Each test is named after a finding and failed on the code before the fix. The hostile
"platform" is a real server on loopback (tests/security/hostile_server.py); the app's
outbound allow-list lets it be reached, as REPERES_OUTBOUND_ALLOW would for a Moodle on
the same network.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from integration.cli import main
from integration.lti.context import lti_context
from integration.lti.models import LtiRegistrationInvite
from integration.lti.registration import (
    PLATFORM_CONFIGURATION,
    TOOL_CONFIGURATION,
    add_platform,
    invite,
)
from integration.models import Platform
from tests.security.hostile_server import Hostile, hostile_server

CONFIG_PATH = "/mod/lti/openid-configuration.php"
REGISTRATION_PATH = "/mod/lti/openid-registration.php"


def platform_config(origin: str, **changes: Any) -> dict[str, Any]:
    config = {
        "issuer": origin,
        "authorization_endpoint": origin + "/mod/lti/auth.php",
        "token_endpoint": origin + "/mod/lti/token.php",
        "jwks_uri": origin + "/mod/lti/certs.php",
        "registration_endpoint": origin + REGISTRATION_PATH,
        "id_token_signing_alg_values_supported": ["RS256"],
        PLATFORM_CONFIGURATION: {"product_family_code": "moodle"},
    }
    config.update(changes)
    return config


def serve_platform(server: Hostile, client_id: str = "abc", **changes: Any) -> None:
    server.json("GET", CONFIG_PATH, platform_config(server.origin, **changes))
    answer = {"client_id": client_id, TOOL_CONFIGURATION: {"deployment_id": "1"}}
    server.json("POST", REGISTRATION_PATH, answer)


def make_invite(app, **kwargs: Any) -> str | None:
    with lti_context(app).sessions.begin() as session:
        return invite(session, **kwargs)[1]


def register(client, config_url: str, **extra: str):
    return client.get(
        "/lti/register",
        query_string={"openid_configuration": config_url, "registration_token": "t", **extra},
    )


def platforms(app) -> list[tuple[str, str, str, str]]:
    with lti_context(app).sessions.begin() as session:
        return [
            (p.issuer, p.client_id, p.jwks_url, p.auth_url)
            for p in session.scalars(select(Platform).order_by(Platform.id))
        ]


@pytest.fixture
def hostile():
    with hostile_server() as server:
        yield server


def test_registration_refuses_a_backslash_url_that_connects_elsewhere(
    app, client, hostile, caplog
):
    """The issue's attack: urlsplit saw moodle.example.org, requests connected to loopback."""
    make_invite(app, host="moodle.example.org")
    serve_platform(hostile)
    url = f"http://127.0.0.1:{hostile.port}\\@moodle.example.org{CONFIG_PATH}"
    with caplog.at_level(logging.WARNING):
        response = register(client, url)
    assert response.status_code == 403
    assert hostile.hits == [], "the attacker's server was called"
    assert platforms(app) == []
    assert any("backslash" in r.getMessage() for r in caplog.records)


def test_registration_refuses_userinfo_in_the_configuration_url(app, client, hostile):
    make_invite(app, host=f"127.0.0.1:{hostile.port}")
    serve_platform(hostile)
    response = register(client, f"http://moodle.example.org@127.0.0.1:{hostile.port}{CONFIG_PATH}")
    assert response.status_code == 403 and hostile.hits == []


def test_registration_never_changes_an_existing_registration(app, client, hostile):
    """A hostile configuration with the issuer and client id of a registered platform
    used to overwrite its URLs (and switch it back on): now a refusal, nothing changed."""
    with lti_context(app).sessions.begin() as session:
        add_platform(
            session,
            issuer=hostile.origin,
            client_id="abc",
            deployment_ids=["1"],
            auth_url=hostile.origin + "/real/auth.php",
            token_url=hostile.origin + "/real/token.php",
            jwks_url=hostile.origin + "/real/certs.php",
        )
    before = platforms(app)
    make_invite(app, host=f"127.0.0.1:{hostile.port}")
    serve_platform(hostile, client_id="abc", jwks_uri=hostile.origin + "/evil/certs.php")
    response = register(client, hostile.origin + CONFIG_PATH)
    assert response.status_code == 409
    assert "déjà enregistré" in response.get_data(as_text=True)
    assert platforms(app) == before
    assert ("POST", REGISTRATION_PATH) not in hostile.hits, "nothing is asked of the platform"


def test_registration_refuses_the_same_issuer_with_another_client_id(app, client, hostile):
    with lti_context(app).sessions.begin() as session:
        add_platform(
            session, issuer=hostile.origin, client_id="first", deployment_ids=["1"],
            auth_url=hostile.origin + "/a", token_url=hostile.origin + "/t",
            jwks_url=hostile.origin + "/k",
        )
    make_invite(app, host=f"127.0.0.1:{hostile.port}")
    serve_platform(hostile, client_id="second")
    assert register(client, hostile.origin + CONFIG_PATH).status_code == 409
    assert [p[1] for p in platforms(app)] == ["first"]


def test_registration_invite_is_spent_by_a_failed_attempt(app, client, hostile):
    token = make_invite(app)
    hostile.json("GET", CONFIG_PATH, {"error": "down"}, status=500)
    assert register(client, hostile.origin + CONFIG_PATH, invite=token).status_code == 502
    serve_platform(hostile)
    again = register(client, hostile.origin + CONFIG_PATH, invite=token)
    assert again.status_code == 403
    assert hostile.hits == [("GET", CONFIG_PATH)], "a spent invite fetches nothing"
    assert platforms(app) == []


def test_registration_host_invite_is_spent_by_its_first_use(app, client, hostile):
    make_invite(app, host=f"127.0.0.1:{hostile.port}")
    serve_platform(hostile)
    assert register(client, hostile.origin + CONFIG_PATH).status_code == 200
    assert register(client, hostile.origin + CONFIG_PATH).status_code == 403


def test_registration_host_invite_expires_by_default(app):
    make_invite(app, host="moodle.example.org")
    with lti_context(app).sessions.begin() as session:
        row = session.scalars(select(LtiRegistrationInvite)).one()
        assert row.expires_at is not None


def test_registration_host_invite_allows_https_on_443_only(app, client):
    """`--host moodle.example.org` does not allow plain http on port 80 (nothing fetched)."""
    make_invite(app, host="moodle.example.org")
    response = register(client, f"http://moodle.example.org{CONFIG_PATH}")
    assert response.status_code == 403


def test_registration_refuses_an_issuer_of_another_origin(app, client, hostile):
    make_invite(app, host=f"127.0.0.1:{hostile.port}")
    serve_platform(hostile, issuer=f"https://127.0.0.1:{hostile.port}")
    response = register(client, hostile.origin + CONFIG_PATH)
    assert response.status_code == 502 and platforms(app) == []
    assert ("POST", REGISTRATION_PATH) not in hostile.hits


def test_registration_refuses_endpoints_on_another_host(app, client, hostile):
    make_invite(app, host=f"127.0.0.1:{hostile.port}")
    serve_platform(hostile, jwks_uri="http://169.254.169.254/latest/meta-data")
    response = register(client, hostile.origin + CONFIG_PATH)
    assert response.status_code == 502 and platforms(app) == []


def test_registration_follows_no_redirect(app, client, hostile):
    make_invite(app, host=f"127.0.0.1:{hostile.port}")
    hostile.answer(
        "GET", CONFIG_PATH, 302, {"Location": "http://169.254.169.254/latest/meta-data"}
    )
    response = register(client, hostile.origin + CONFIG_PATH)
    assert response.status_code == 403 and platforms(app) == []


def test_registration_refuses_a_private_address_the_operator_did_not_allow(
    migrated, hostile
):
    from integration import create_app

    app = create_app(migrated.with_changes(outbound_allow=""))
    try:
        make_invite(app, host=f"127.0.0.1:{hostile.port}")
        serve_platform(hostile)
        response = register(app.test_client(), hostile.origin + CONFIG_PATH)
        assert response.status_code == 403 and hostile.hits == []
    finally:
        app.extensions["reperes"].engine.dispose()


def test_reperes_platform_add_still_updates_a_registration(migrated, app, monkeypatch):
    """The operator decides: `reperes platform add` may still change a registration."""
    monkeypatch.setenv("REPERES_VAR_DIR", str(migrated.var_dir))
    monkeypatch.setenv("REPERES_DATABASE_URL", migrated.database_url)
    base = ["platform", "add", "--issuer", "https://moodle.example.org", "--client-id", "abc",
            "--deployment-id", "1", "--auth-url", "https://moodle.example.org/auth",
            "--token-url", "https://moodle.example.org/token"]
    first = CliRunner().invoke(main, [*base, "--jwks-url", "https://moodle.example.org/k1"])
    second = CliRunner().invoke(main, [*base, "--jwks-url", "https://moodle.example.org/k2"])
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    assert "updated" in second.output
    assert [p[2] for p in platforms(app)] == ["https://moodle.example.org/k2"]
