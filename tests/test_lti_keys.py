"""The tool's keys: made on first use, shared through the database, published as a JWKS,
rotated with a grace period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from click.testing import CliRunner
from sqlalchemy import select

from integration.cli import main
from integration.lti import keys
from integration.lti.context import lti_context
from integration.lti.models import LtiKey


def test_jwks_publishes_one_rsa_key_with_a_kid(client):
    document = client.get("/lti/jwks").json
    [key] = document["keys"]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
    assert key["kid"] and "d" not in key and "p" not in key
    assert client.get("/lti/jwks").json == document, "the key is made once"


def test_the_key_signs_what_the_jwks_verifies(app, client):
    lti = lti_context(app)
    signing = lti.tool_keys.signing_key()
    token = jwt.encode(
        {"hello": "world"}, signing.private_key, algorithm="RS256", headers={"kid": signing.kid}
    )
    [jwk] = client.get("/lti/jwks").json["keys"]
    assert jwk["kid"] == signing.kid
    public = jwt.PyJWK(jwk).key
    assert jwt.decode(token, public, algorithms=["RS256"]) == {"hello": "world"}


def test_two_instances_share_the_key(app, migrated):
    from integration import create_app

    other = create_app(migrated)
    try:
        first = app.test_client().get("/lti/jwks").json
        assert other.test_client().get("/lti/jwks").json == first
    finally:
        other.extensions["reperes"].engine.dispose()


def test_rotation_keeps_the_old_key_published_for_the_grace_period_then_drops_it(app):
    lti = lti_context(app)
    with lti.sessions.begin() as session:
        old = keys.current_key(session).kid
    with lti.sessions.begin() as session:
        new = keys.rotate(session, grace=timedelta(days=7)).kid
    assert new != old
    with lti.sessions.begin() as session:
        published = [k.kid for k in keys.published_keys(session)]
        assert published == [new, old]
        assert keys.current_key(session).kid == new
        # The grace period ends…
        row = session.scalar(select(LtiKey).where(LtiKey.kid == old))
        row.retire_at = datetime.now(UTC) - timedelta(seconds=1)
    with lti.sessions.begin() as session:
        assert [k.kid for k in keys.published_keys(session)] == [new]
        assert keys.drop_retired(session) == 1
        assert session.scalar(select(LtiKey).where(LtiKey.kid == old)) is None


def test_cli_rotate_and_list(app, migrated, monkeypatch):
    monkeypatch.setenv("REPERES_VAR_DIR", str(migrated.var_dir))
    monkeypatch.setenv("REPERES_DATABASE_URL", migrated.database_url)
    runner = CliRunner()
    listed = runner.invoke(main, ["keys", "list"])
    assert listed.exit_code == 0, listed.output
    assert "current" in listed.output
    rotated = runner.invoke(main, ["keys", "rotate", "--grace-days", "2"])
    assert rotated.exit_code == 0, rotated.output
    assert "new signing key" in rotated.output
    listed = runner.invoke(main, ["keys", "list"])
    assert listed.output.count("\n") == 2 and "retired, published until" in listed.output
    lti_context(app).tool_keys.forget()
    assert len(app.test_client().get("/lti/jwks").json["keys"]) == 2


def test_the_demo_platform_key_is_not_published_as_the_tools(app):
    lti = lti_context(app)
    demo = lti.demo_keys.signing_key()
    tool = lti.tool_keys.signing_key()
    assert demo.kid != tool.kid
    assert [k["kid"] for k in app.test_client().get("/lti/jwks").json["keys"]] == [tool.kid]
