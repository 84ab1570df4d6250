"""Sessions that can be revoked (issue 12): a cookie signs no one in without its record.

Each test keeps the session cookie of a real launch (through the demo platform) and shows
that it opens nothing once the session has ended server-side.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from integration.auth import IDLE_LIFETIME, Actor
from integration.cli import main
from integration.models import SessionRecord
from integration.ops.privacy import erase_person
from tests.support.lti import session_actor
from tests.test_pages_support import db_of, launched, post, text_of


def _cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def _browser_with(app: Flask, cookie: str) -> FlaskClient:
    """Another browser holding a copy of the cookie (as an attacker or a stale tab would)."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def _actor(client: FlaskClient) -> Actor:
    actor = session_actor(client)
    assert actor is not None
    return actor


def test_session_cookie_refused_after_person_erase(demo_app: Flask) -> None:
    candidat = launched(demo_app)
    assert candidat.get("/moi").status_code == 200
    kept = _cookie(candidat)
    runtime = demo_app.extensions["reperes"]
    with db_of(demo_app) as db:
        erase_person(db, runtime.store, _actor(candidat).person_id)
    assert candidat.get("/moi").status_code == 401
    assert _browser_with(demo_app, kept).get("/api/v1/session").status_code == 401


def test_session_cookie_refused_after_platform_remove(demo_app: Flask, monkeypatch) -> None:
    candidat = launched(demo_app)
    assert candidat.get("/moi").status_code == 200
    kept = _cookie(candidat)
    platform_id = _actor(candidat).platform_id
    settings = demo_app.extensions["reperes"].settings
    monkeypatch.setenv("REPERES_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("REPERES_DATABASE_URL", settings.database_url)
    result = CliRunner().invoke(main, ["platform", "remove", str(platform_id), "--yes"])
    assert result.exit_code == 0, result.output
    assert candidat.get("/moi").status_code == 401
    assert _browser_with(demo_app, kept).get("/moi").status_code == 401


def test_session_cookie_refused_after_quitter(demo_app: Flask) -> None:
    candidat = launched(demo_app)
    page = candidat.get("/moi")
    assert page.status_code == 200
    assert 'action="/quitter"' in page.get_data(as_text=True) and "Quitter" in text_of(page)
    kept = _cookie(candidat)
    left = post(candidat, "/quitter", token_from="/moi")
    assert left.status_code == 303 and left.headers["Location"].endswith("/quitter")
    goodbye = candidat.get("/quitter")
    assert "Vous avez quitté Repères." in text_of(goodbye)
    assert "Pour revenir, ouvrez Repères depuis votre cours Moodle." in text_of(goodbye)
    assert "Content-Security-Policy" in goodbye.headers
    assert candidat.get("/moi").status_code == 401
    # The cookie as it was before « Quitter » opens nothing either: the end is server-side.
    assert _browser_with(demo_app, kept).get("/moi").status_code == 401


def test_quitter_needs_the_page_token(demo_app: Flask) -> None:
    candidat = launched(demo_app)
    refused = candidat.post("/quitter", data={"csrf_token": "not-the-token"})
    assert refused.status_code == 403
    assert candidat.get("/moi").status_code == 200


def test_session_cookie_refused_after_the_idle_lifetime(demo_app: Flask) -> None:
    candidat = launched(demo_app)
    assert candidat.get("/moi").status_code == 200
    now = datetime.now(UTC)
    # Idle a little less than the lifetime: still open, and the visit slides the window.
    with db_of(demo_app) as db:
        almost = now - IDLE_LIFETIME + timedelta(minutes=5)
        db.execute(update(SessionRecord).values(last_seen_at=almost))
    assert candidat.get("/moi").status_code == 200
    with db_of(demo_app) as db:
        [seen] = db.scalars(select(SessionRecord.last_seen_at)).all()
        assert seen > now - timedelta(minutes=1)
    # Idle for longer than the lifetime: over.
    with db_of(demo_app) as db:
        over = now - IDLE_LIFETIME - timedelta(minutes=1)
        db.execute(update(SessionRecord).values(last_seen_at=over))
    assert candidat.get("/moi").status_code == 401


def test_session_cookie_refused_after_the_longest_lifetime(demo_app: Flask) -> None:
    candidat = launched(demo_app)
    with db_of(demo_app) as db:
        past = datetime.now(UTC) - timedelta(seconds=1)
        db.execute(update(SessionRecord).values(expires_at=past))
    assert candidat.get("/moi").status_code == 401


def test_session_cookie_lives_hours_not_a_month(demo_app: Flask) -> None:
    assert demo_app.permanent_session_lifetime <= timedelta(hours=8)
    candidat = launched(demo_app)
    cookie = candidat.get_cookie("session")
    assert cookie is not None and cookie.expires is not None
    assert cookie.expires - datetime.now(UTC) <= timedelta(hours=8, minutes=1)


def test_a_cookie_made_without_a_launch_signs_no_one_in(demo_app: Flask) -> None:
    """Without its record, even a validly signed actor (an old 31-day cookie) opens nothing."""
    candidat = launched(demo_app)
    with candidat.session_transaction() as sess:
        sess.pop("sid", None)
    assert candidat.get("/moi").status_code == 401


def _tampered(cookie: str) -> str:
    """The same cookie with one character of its JSON payload changed."""
    payload, rest = cookie.split(".", 1)
    swapped = "A" if payload[5] != "A" else "B"
    return payload[:5] + swapped + payload[6:] + "." + rest


def test_a_tampered_or_foreign_session_cookie_opens_nothing(demo_app: Flask) -> None:
    """The cookie is signed JSON (integration.auth.SessionCookie): a changed byte, a cookie of
    Flask's own format (zlib, tagged JSON, as before this wave), or a signed value that is
    not a JSON object are all refused as an empty session, never a 500."""
    import hashlib
    import json

    from itsdangerous import URLSafeTimedSerializer

    candidat = launched(demo_app)
    assert candidat.get("/moi").status_code == 200
    kept = _cookie(candidat)
    assert _browser_with(demo_app, kept).get("/moi").status_code == 200
    assert _browser_with(demo_app, _tampered(kept)).get("/moi").status_code == 401

    interface = demo_app.session_interface
    with candidat.session_transaction() as sess:
        content = dict(sess)
    flask_format = URLSafeTimedSerializer(
        demo_app.secret_key,
        salt=interface.salt,  # type: ignore[attr-defined]
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    ).dumps(content)
    assert _browser_with(demo_app, flask_format).get("/moi").status_code == 401

    cookie_maker = interface.get_signing_serializer(demo_app)  # type: ignore[attr-defined]
    signer = cookie_maker._signer
    from itsdangerous.encoding import base64_decode, base64_encode

    for value in ("[1, 2]", '"actor"', "not json"):
        forged = signer.sign(base64_encode(value)).decode()
        assert _browser_with(demo_app, forged).get("/moi").status_code == 401
    # The cookie's first part is the session itself, as plain JSON.
    assert json.loads(base64_decode(kept.split(".", 1)[0])) == content
