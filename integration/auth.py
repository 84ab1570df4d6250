"""Who is acting: the actor a launch put in the session, and the checks every view uses.

A launch (integration/lti) is the only door: it calls `login_actor`. Views and the API
call `current_actor()` or use `@require_actor(...)`. An actor is always scoped to one
platform, one deployment and one course: the ones of its launch.

The session is Flask's signed cookie. Repères lives in Moodle's iframe, on another site than
Moodle: over HTTPS the cookie is `Secure; SameSite=None; Partitioned` (CHIPS), which browsers
that block third-party cookies still keep, per embedding site. Over plain HTTP (development)
it is `SameSite=Lax`. HTTPS is read from the request, so behind a proxy it follows
`X-Forwarded-Proto` when the app trusts the proxy (settings.trust_proxy). When the browser
keeps no cookie at all in the frame, the launch offers to open Repères in a new window
(integration/lti/views.py), where the same cookie is first-party.

The cookie alone signs no one in: it carries a random id whose SHA-256 names a
`SessionRecord` row, read on each request (one primary-key read). The session ends when
the row goes: « Quitter » (`logout`), an erased person, a removed platform (`end_sessions`),
or when it has been idle for `IDLE_LIFETIME` (sliding, fit for a shared computer) or
lives longer than `MAX_LIFETIME`. `last_seen_at` is written at most once a minute.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from flask import Flask, abort, g, request, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadData, BadSignature, TimestampSigner
from itsdangerous.encoding import base64_decode, base64_encode
from sqlalchemy import Connection, bindparam, delete, insert, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from .actor import Actor
from .models import Role, SessionRecord

log = logging.getLogger(__name__)

SESSION_KEY = "actor"
RECORD_KEY = "sid"  # the random id of the session's SessionRecord
IDLE_LIFETIME = timedelta(hours=8)  # sliding: a shared computer left alone signs out
MAX_LIFETIME = timedelta(days=7)  # however active, a session ends after this
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often

F = TypeVar("F", bound=Callable[..., Any])


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _factory() -> sessionmaker[Session]:
    from .runtime import current_runtime

    return current_runtime().sessions


def start_session(factory: sessionmaker[Session], actor: Actor) -> str:
    """Record a new signed-in browser for `actor`; the random id its cookie will carry."""
    token = secrets.token_urlsafe(32)
    now = _now()
    with factory.begin() as db:
        # Old rows go as new ones come: expired, or idle for longer than allowed.
        db.execute(
            delete(SessionRecord).where(
                or_(
                    SessionRecord.expires_at < now,
                    SessionRecord.last_seen_at < now - IDLE_LIFETIME,
                )
            )
        )
        db.add(
            SessionRecord(
                digest=_digest(token),
                person_id=actor.person_id,
                platform_id=actor.platform_id,
                created_at=now,
                last_seen_at=now,
                expires_at=now + MAX_LIFETIME,
            )
        )
    return token


def end_sessions(
    db: Session, *, person_id: int | None = None, platform_id: int | None = None
) -> int:
    """End every session of a person or of a platform, in the caller's transaction."""
    if person_id is None and platform_id is None:
        raise ValueError("end_sessions needs a person or a platform")
    query = delete(SessionRecord)
    if person_id is not None:
        query = query.where(SessionRecord.person_id == person_id)
    if platform_id is not None:
        query = query.where(SessionRecord.platform_id == platform_id)
    ended = int(getattr(db.execute(query), "rowcount", 0) or 0)
    log.info("sessions ended: person=%s platform=%s count=%d", person_id, platform_id, ended)
    return ended


def _forget_record() -> None:
    token = session.get(RECORD_KEY)
    if isinstance(token, str) and token:
        with _factory().begin() as db:
            db.execute(delete(SessionRecord).where(SessionRecord.digest == _digest(token)))


SWEEP_EVERY = 60.0  # seconds: a process sweeps ended session records this often at most
_last_sweep: WeakKeyDictionary[Engine, float] = WeakKeyDictionary()  # by database
_SWEEP = delete(SessionRecord).where(
    or_(
        SessionRecord.expires_at < bindparam("expired"),
        SessionRecord.last_seen_at < bindparam("idle"),
    )
)
_NEW_RECORD: dict[str, Any] = {
    name: bindparam("new_" + name)
    for name in ("digest", "person_id", "platform_id", "created_at", "last_seen_at", "expires_at")
}
_RENEW = (
    update(SessionRecord).where(SessionRecord.digest == bindparam("digest")).values(_NEW_RECORD)
)
_RECORD = insert(SessionRecord).values(_NEW_RECORD)


def login_actor(actor: Actor, db: Session | Connection | None = None) -> None:
    """Start a fresh session for this actor (a new launch replaces the previous one).

    With `db`, the record is written in the caller's transaction (the launch: one
    transaction for the whole of it); once a minute per process the ended records are
    swept."""
    if db is None:
        with _factory().begin() as own:
            login_actor(actor, own)
        return
    conn = db.connection() if isinstance(db, Session) else db
    now = _now()
    clock = time.monotonic()
    if clock - _last_sweep.get(conn.engine, -SWEEP_EVERY) >= SWEEP_EVERY:
        _last_sweep[conn.engine] = clock
        conn.execute(_SWEEP, {"expired": now, "idle": now - IDLE_LIFETIME})
    token = secrets.token_urlsafe(32)
    record = {
        "new_digest": _digest(token),
        "new_person_id": actor.person_id,
        "new_platform_id": actor.platform_id,
        "new_created_at": now,
        "new_last_seen_at": now,
        "new_expires_at": now + MAX_LIFETIME,
    }
    previous = session.get(RECORD_KEY)
    # The browser's previous record becomes the new one (its id changes, so the old cookie
    # opens nothing); a browser without one gets a new row.
    renewed = 0
    if isinstance(previous, str) and previous:
        renewed = conn.execute(_RENEW, {"digest": _digest(previous), **record}).rowcount
    if renewed != 1:
        conn.execute(_RECORD, record)
    session.clear()
    session[SESSION_KEY] = actor.to_session()
    session[RECORD_KEY] = token
    session.permanent = True
    g.actor = actor


def logout() -> None:
    """« Quitter »: the session's record goes, so the cookie opens nothing any more."""
    _forget_record()
    session.clear()
    g.actor = None


def _recorded(actor: Actor, token: Any) -> bool:
    """Whether the cookie's record is there, this actor's, not idle and not too old."""
    if not isinstance(token, str) or not token or len(token) > 100:
        return False
    digest = _digest(token)
    now = _now()
    with _factory().begin() as db:
        row = db.get(SessionRecord, digest)
        if (
            row is None
            or row.person_id != actor.person_id
            or row.platform_id != actor.platform_id
            or row.expires_at <= now
            or row.last_seen_at <= now - IDLE_LIFETIME
        ):
            return False
        if now - row.last_seen_at >= TOUCH_EVERY:
            db.execute(
                update(SessionRecord).where(SessionRecord.digest == digest).values(last_seen_at=now)
            )
    return True


def current_actor() -> Actor | None:
    if "actor" in g:
        actor: Actor | None = g.actor
        return actor
    data = session.get(SESSION_KEY)
    actor = None
    if isinstance(data, dict):
        try:
            actor = Actor.from_session(data)
        except (TypeError, ValueError, KeyError):
            actor = None
    if actor is not None and not _recorded(actor, session.get(RECORD_KEY)):
        # Ended, idle or never recorded: the cookie is dropped with what it carried.
        session.clear()
        actor = None
    g.actor = actor
    return actor


def signed_in() -> Actor:
    """The actor of this request's launch, or 401: the page (or the API's problem) says to
    open Repères again from the Moodle course."""
    actor = current_actor()
    if actor is None:
        abort(401)
    return actor


def require_actor(*roles: Role) -> Callable[[F], F]:
    """401 without a launch; 403 when the actor's role is not among `roles` (if given)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            actor = current_actor()
            if actor is None:
                abort(401)
            if roles and actor.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def _https() -> bool:
    return bool(request) and request.is_secure


def cookie_policy() -> dict[str, Any]:
    """Cookie attributes for this request: cross-site capable over HTTPS, Lax over HTTP."""
    secure = _https()
    return {
        "secure": secure,
        "samesite": "None" if secure else "Lax",
        "partitioned": secure,
        "httponly": True,
    }


class _KeptKeySigner(TimestampSigner):
    """itsdangerous' timestamp signer, deriving each secret key's signing key once (it
    derives it again for every cookie otherwise)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._derived: dict[bytes | None, bytes] = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        name = secret_key.encode() if isinstance(secret_key, str) else secret_key
        key = self._derived.get(name)
        if key is None:
            key = self._derived[name] = super().derive_key(secret_key)
        return key


class SessionCookie:
    """The session cookie's value: base64url(JSON).timestamp.signature, signed with
    itsdangerous as Flask signs its own (HMAC, the app's secret key and its fallbacks, the
    same salt), without Flask's tagged serializer and zlib: the session holds a few plain
    JSON values (the actor, the record id, the CSRF token), and these cost a twentieth of
    a launch. Anything that is not such a cookie is refused as BadSignature."""

    def __init__(self, keys: tuple[str | bytes, ...], salt: str, digest_method: Any) -> None:
        self.keys = keys
        self._signer = _KeptKeySigner(
            list(keys), salt=salt, key_derivation="hmac", digest_method=digest_method
        )

    def dumps(self, value: dict[str, Any]) -> str:
        payload = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        return self._signer.sign(base64_encode(payload)).decode("ascii")

    def loads(self, value: str | bytes, max_age: int | None = None) -> dict[str, Any]:
        signed = self._signer.unsign(value, max_age=max_age)  # BadSignature, SignatureExpired
        try:
            data = json.loads(base64_decode(signed))
        except (ValueError, BadData) as exc:
            raise BadSignature("the session cookie does not hold JSON") from exc
        if not isinstance(data, dict):
            raise BadSignature("the session cookie does not hold an object")
        return data


class ActorSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session with the attributes of `cookie_policy()`, its value
    made by `SessionCookie`, which is made once per set of secret keys (Flask makes a
    serializer, and derives its key, for every request and every cookie)."""

    def __init__(self) -> None:
        self._cookie: SessionCookie | None = None

    def get_signing_serializer(self, app: Flask) -> SessionCookie | None:  # type: ignore[override]
        if not app.secret_key:
            return None
        keys = (*(app.config["SECRET_KEY_FALLBACKS"] or ()), app.secret_key)
        if self._cookie is None or self._cookie.keys != keys:
            self._cookie = SessionCookie(keys, self.salt, self.digest_method)
        return self._cookie

    def get_cookie_secure(self, app: Flask) -> bool:
        return _https()

    def get_cookie_samesite(self, app: Flask) -> str | None:
        return "None" if _https() else "Lax"

    def get_cookie_partitioned(self, app: Flask) -> bool:
        return _https()


def init_app(app: Flask) -> None:
    """Install the actor session on `app`: the cookie lives as long as an idle session."""
    app.session_interface = ActorSessionInterface()
    app.config["PERMANENT_SESSION_LIFETIME"] = IDLE_LIFETIME
    app.config["SESSION_REFRESH_EACH_REQUEST"] = True
    from .pages import quit as quit_views

    app.register_blueprint(quit_views.bp)  # /quitter
