"""The OIDC login and the launch, as plain services over the database.

`begin_login` answers a platform's login initiation with a fresh state and nonce kept in
the database; `check_launch` validates the id_token against them without writing;
`accept_launch` consumes the state (a replay finds nothing) and records the person, the
course and the membership. The launch view runs both, and the session record, in one
transaction (`in_one_transaction`).

A launch without a context (a platform may place Repères outside any course) lands in the
platform's pseudo-course whose `context_id` is "" (`NO_CONTEXT`).

One-time tickets (a new window, deep linking) are in `tickets`.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import (
    Connection,
    RowMapping,
    Table,
    and_,
    bindparam,
    delete,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from ..actor import Actor
from ..models import Course, Membership, Person, Platform, Role
from . import claims as c
from .context import LtiContext
from .errors import LaunchError
from .models import LtiLaunchState
from .roles import map_roles
from .validation import Registration, validate_id_token

log = logging.getLogger(__name__)


NO_CONTEXT = ""
NO_CONTEXT_TITLE = "Hors cours"
STATE_LIFETIME = timedelta(minutes=10)
MAX_URL = 1000  # the longest URL our columns keep
_FRAME_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- registrations ----------------------------------------------------------------------


def registrations_for(session: Session, issuer: str) -> list[Registration]:
    """An issuer's registrations read from the database (the launch reads them through
    the cache of `registry.py`)."""
    platforms = session.scalars(
        select(Platform)
        .where(Platform.issuer == issuer)
        .options(selectinload(Platform.deployments))
    ).all()
    return [
        Registration(
            platform_id=p.id,
            issuer=p.issuer,
            client_id=p.client_id,
            jwks_url=p.jwks_url,
            deployments=frozenset(d.deployment_id for d in p.deployments),
            active=p.active,
        )
        for p in platforms
    ]


# --- login initiation -------------------------------------------------------------------


@dataclass(frozen=True)
class LoginStart:
    """Where to send the browser, and what to store on the platform side first."""

    auth_url: str  # the platform's auth endpoint with every parameter
    auth_origin: str  # target origin of postMessages to the platform
    state: str
    nonce: str
    storage_target: str | None


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def begin_login(lti: LtiContext, params: Mapping[str, str]) -> LoginStart:
    """Check a login initiation, store its state and nonce, and build the auth redirect."""
    issuer = params.get("iss", "")
    login_hint = params.get("login_hint", "")
    target = params.get("target_link_uri", "")
    client_id = params.get("client_id") or None
    deployment_id = params.get("lti_deployment_id") or None
    if not issuer:
        raise LaunchError("login initiation without iss")
    if not login_hint:
        raise LaunchError("login initiation without login_hint")
    if login_hint == "0":  # Moodle sends 0 for a visitor who is not logged in
        raise LaunchError(
            "login_hint=0: the visitor is not logged in to the platform",
            status=401,
            title="Vous n’êtes pas connecté à Moodle.",
            advice="Connectez-vous à Moodle, ouvrez votre cours, puis cliquez sur Repères.",
        )
    if not target:
        raise LaunchError("login initiation without target_link_uri")
    if len(target) > MAX_URL:
        raise LaunchError("target_link_uri is too long")
    if _origin(target) != _origin(lti.urls.base):
        raise LaunchError(f"target_link_uri {target!r} is not on this tool ({lti.urls.base})")

    with lti.sessions.begin() as session:
        platforms = session.scalars(
            select(Platform)
            .where(Platform.issuer == issuer)
            .options(selectinload(Platform.deployments))
        ).all()
        if client_id is not None:
            platforms = [p for p in platforms if p.client_id == client_id]
        if not platforms:
            raise LaunchError(
                f"login from unregistered issuer {issuer!r} client {client_id!r}",
                title="Repères ne connaît pas ce Moodle.",
                configuration=True,
            )
        if len(platforms) > 1:
            raise LaunchError(
                f"issuer {issuer!r} has several client ids and sent none", configuration=True
            )
        platform = platforms[0]
        if not platform.active:
            raise LaunchError(
                f"platform {issuer!r} is switched off", status=403, configuration=True
            )
        if deployment_id is not None and deployment_id not in {
            d.deployment_id for d in platform.deployments
        }:
            raise LaunchError(
                f"deployment {deployment_id!r} is not registered for {issuer!r}",
                configuration=True,
            )

        storage = params.get("lti_storage_target") or None
        if storage is not None and not _FRAME_NAME.match(storage):
            log.warning("ignoring lti_storage_target that is not a frame name")
            storage = None
        state = secrets.token_urlsafe(24)
        nonce = secrets.token_urlsafe(24)
        now = utcnow()
        session.execute(delete(LtiLaunchState).where(LtiLaunchState.expires_at < now))
        session.add(
            LtiLaunchState(
                state=state,
                nonce=nonce,
                platform_id=platform.id,
                target_link_uri=target,
                storage_target=storage,
                created_at=now,
                expires_at=now + STATE_LIFETIME,
            )
        )
        auth = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": platform.client_id,
            "redirect_uri": lti.urls.launch,
            "login_hint": login_hint,
            "state": state,
            "nonce": nonce,
        }
        if "lti_message_hint" in params:
            auth["lti_message_hint"] = params["lti_message_hint"]
        auth_url = _with_query(platform.auth_url, auth)
        auth_origin = _origin(platform.auth_url)
    return LoginStart(auth_url, auth_origin, state, nonce, storage)


# --- the launch -------------------------------------------------------------------------
#
# A launch is one transaction: the login's state read, then consumed, the person, course
# and membership recorded, the session record written (integration/auth.py login_actor),
# a handful of statements when the person launched before. Registrations come from the
# process's cache (registry.py) and the platform's key from the JWKS cache; when a key
# must be fetched, the transaction ends first (nothing written), the key is fetched, and
# the launch runs again: no transaction stays open while the platform answers.


class KeyNotCached(Exception):
    """The platform key of this launch is not in memory: fetch it outside the transaction."""

    def __init__(self, jwks_url: str, kid: str) -> None:
        super().__init__(jwks_url, kid)
        self.jwks_url = jwks_url
        self.kid = kid


T = TypeVar("T")


def in_one_transaction(lti: LtiContext, work: Callable[[Connection], T]) -> T:
    """`work(db)` in one transaction (a Core connection: the ORM's unit of work would cost
    more than the launch's few statements), run again (once) after fetching a platform key
    that was not in memory; whatever `work` raises rolls everything back."""
    engine = lti.sessions.kw["bind"]
    for attempt in range(2):
        try:
            with engine.begin() as db:
                return work(db)
        except KeyNotCached as missing:
            if attempt:
                raise LaunchError(f"platform JWKS {missing.jwks_url} keeps changing") from None
            lti.platform_keys.key(missing.jwks_url, missing.kid)  # LaunchError: refused
    raise AssertionError("unreachable")


def _cached_key(lti: LtiContext) -> Callable[[str, str], Any]:
    def key_for(jwks_url: str, kid: str) -> Any:
        key = lti.platform_keys.cached(jwks_url, kid)
        if key is None:
            raise KeyNotCached(jwks_url, kid)
        return key

    return key_for


@dataclass(frozen=True)
class PendingLaunch:
    """A valid id_token and the login it answers (consumed already in the caller's
    transaction when `consumed`)."""

    message: c.LaunchMessage
    state: str
    nonce: str
    storage_target: str | None
    auth_origin: str
    moodle: bool = False  # the platform has a Moodle connection: refresh completions
    consumed: bool = False


def check_launch(
    lti: LtiContext,
    form: Mapping[str, str],
    *,
    now: float | None = None,
    db: Connection | None = None,
    consume: bool = False,
) -> PendingLaunch:
    """Validate a launch POST against its login; writes nothing, unless `consume`.

    With `db`, the login is read in the caller's transaction (the launch's one), and
    KeyNotCached asks the caller to fetch the platform key outside it (`in_one_transaction`).
    With `consume` too, the login is deleted as it is read (one statement): the caller's
    transaction must roll back unless it goes on to `accept_launch`."""
    if db is None:
        return in_one_transaction(lti, lambda own: check_launch(lti, form, now=now, db=own))
    if form.get("error"):
        description = form.get("error_description", "")[:200]
        raise LaunchError(
            f"the platform refused the login: error={form['error'][:50]!r} {description!r}",
            title="Moodle n’a pas autorisé l’ouverture de Repères.",
        )
    state = form.get("state", "")
    token = form.get("id_token", "")
    if not token:
        raise LaunchError("launch without id_token")
    if not state:
        raise LaunchError("launch without state")
    row = db.execute(_CONSUME_LOGIN if consume else _LOGIN, {"state": state}).first()
    if row is None or row.expires_at < utcnow():
        raise LaunchError(
            "state unknown: expired, already used, or never issued by this tool",
            title="Ce lien d’ouverture a expiré ou a déjà servi.",
        )
    registrations = lti.registrations
    message = validate_id_token(
        token,
        registrations=lambda iss: [e.registration for e in registrations.for_issuer(iss, db)],
        key_for=_cached_key(lti),
        expected_nonce=row.nonce,
        expected_target=row.target_link_uri,
        expected_platform_id=row.platform_id,
        now=now,
    )
    entry = next(
        e
        for e in registrations.for_issuer(message.issuer, db)
        if e.registration.platform_id == row.platform_id
    )
    return PendingLaunch(
        message,
        state,
        row.nonce,
        row.storage_target,
        entry.auth_origin,
        entry.moodle,
        consumed=consume,
    )


_LOGIN_COLUMNS = (
    LtiLaunchState.nonce,
    LtiLaunchState.platform_id,
    LtiLaunchState.target_link_uri,
    LtiLaunchState.storage_target,
    LtiLaunchState.expires_at,
)
_LOGIN = select(*_LOGIN_COLUMNS).where(LtiLaunchState.state == bindparam("state"))
_CONSUME_LOGIN = (
    delete(LtiLaunchState)
    .where(LtiLaunchState.state == bindparam("state"))
    .returning(*_LOGIN_COLUMNS)
)
_CONSUME = delete(LtiLaunchState).where(
    LtiLaunchState.state == bindparam("state"), LtiLaunchState.nonce == bindparam("nonce")
)


def accept_launch(
    lti: LtiContext, pending: PendingLaunch, *, db: Connection | None = None
) -> Actor:
    """Consume the login (once only) and record who launched, from where, as what: in the
    caller's transaction `db`, or in one of its own."""
    if db is None:
        with lti.sessions.kw["bind"].begin() as own:
            return accept_launch(lti, pending, db=own)
    if pending.consumed:
        return record_launch(db, pending.message)
    consumed = db.execute(_CONSUME, {"state": pending.state, "nonce": pending.nonce})
    if consumed.rowcount != 1:
        raise LaunchError(
            "state and nonce already consumed: a replayed launch",
            title="Ce lien d’ouverture a déjà servi.",
        )
    return record_launch(db, pending.message)


def _url(value: str | None) -> str | None:
    return value if value and len(value) <= MAX_URL else None


# Dates of the latest launch are kept to this precision: a person who launches again
# within it changes nothing (the launch only reads).
SEEN_EVERY = timedelta(minutes=15)

_PERSON_FIELDS = (
    ("name", 300),
    ("given_name", 200),
    ("family_name", 200),
    ("email", 320),
    ("username", 255),
)
_PERSON_NEW: dict[str, Any] = {
    "name": "",
    "given_name": "",
    "family_name": "",
    "email": "",
    "username": "",
    "is_coordinateur": False,
    "last_seen_at": None,
}
_COURSE_NEW: dict[str, Any] = {
    "deployment_id": "",
    "title": "",
    "label": "",
    "referentiels": [],
    "nrps_url": None,
    "ags_lineitems_url": None,
    "ags_lineitem_url": None,
    "ags_scopes": [],
    "moodle_course_id": None,
}
_MEMBERSHIP_NEW: dict[str, Any] = {
    "role": None,
    "roles_raw": [],
    "launched": False,
    "last_launch_at": None,
}


def _stale(seen: datetime | None, now: datetime) -> bool:
    return seen is None or now - seen >= SEEN_EVERY


def _person_values(
    current: Mapping[str, Any], message: c.LaunchMessage, coordinateur: bool, now: datetime
) -> dict[str, Any]:
    # Only what the launch says overwrites: a platform that hides names keeps the old ones.
    values: dict[str, Any] = {"is_coordinateur": coordinateur}
    for attr, length in _PERSON_FIELDS:
        value = getattr(message, attr)
        if value is not None:
            values[attr] = value[:length]
    if _stale(current["last_seen_at"], now):
        values["last_seen_at"] = now
    return values


def _course_values(
    current: Mapping[str, Any], message: c.LaunchMessage, context_id: str
) -> dict[str, Any]:
    values: dict[str, Any] = {"deployment_id": message.deployment_id}
    if context_id == NO_CONTEXT:
        values["title"] = current["title"] or NO_CONTEXT_TITLE
    else:
        values["title"] = message.context_title[:500] or current["title"]
        values["label"] = message.context_label[:255] or current["label"]
        if (
            message.product_family_code == "moodle"
            and current["moodle_course_id"] is None
            and context_id.isdigit()
        ):
            values["moodle_course_id"] = int(context_id)  # a Moodle context id is the course id
    if message.nrps_url:
        values["nrps_url"] = _url(message.nrps_url)
    if message.ags_lineitems_url or message.ags_lineitem_url:
        values["ags_lineitems_url"] = _url(message.ags_lineitems_url)
        values["ags_lineitem_url"] = _url(message.ags_lineitem_url)
        values["ags_scopes"] = list(message.ags_scopes)
    referentiel = message.custom.get(c.CUSTOM_REFERENTIEL)
    offered = list(current["referentiels"] or [])
    if isinstance(referentiel, str) and referentiel and referentiel not in offered:
        values["referentiels"] = [*offered, referentiel[:150]]
    return values


def _membership_values(
    current: Mapping[str, Any], role: Role, roles: tuple[str, ...], now: datetime
) -> dict[str, Any]:
    values: dict[str, Any] = {"role": role, "roles_raw": list(roles), "launched": True}
    if _stale(current["last_launch_at"], now):
        values["last_launch_at"] = now
    return values


_P, _C, _M = (cast(Table, m.__table__) for m in (Person, Course, Membership))
_ONE = select(literal(1).label("one")).subquery("one")
# What a launch needs to know of the person, the course and the membership: one statement.
_KNOWN = select(
    _P.c.id.label("p_id"),
    *(_P.c[name].label("p_" + name) for name in _PERSON_NEW),
    _C.c.id.label("c_id"),
    *(_C.c[name].label("c_" + name) for name in _COURSE_NEW),
    _M.c.id.label("m_id"),
    *(_M.c[name].label("m_" + name) for name in _MEMBERSHIP_NEW),
).select_from(
    _ONE.outerjoin(
        _P, and_(_P.c.platform_id == bindparam("platform_id"), _P.c.sub == bindparam("sub"))
    )
    .outerjoin(
        _C,
        and_(
            _C.c.platform_id == bindparam("platform_id"),
            _C.c.context_id == bindparam("context_id"),
        ),
    )
    .outerjoin(_M, and_(_M.c.course_id == _C.c.id, _M.c.person_id == _P.c.id))
)


def _part(row: RowMapping, prefix: str, names: Mapping[str, Any]) -> dict[str, Any] | None:
    if row[prefix + "id"] is None:
        return None
    return {"id": row[prefix + "id"], **{name: row[prefix + name] for name in names}}


def _upsert(
    conn: Connection,
    table: Table,
    key: dict[str, Any],
    current: Mapping[str, Any] | None,
    wanted: Callable[[Mapping[str, Any]], dict[str, Any]],
    new: Mapping[str, Any],
) -> int:
    """The id of the row of `key`: inserted when missing (a concurrent insert of the same
    key wins, then this one updates it), updated with what changed, untouched otherwise."""
    if current is None:
        values = {**new, **wanted(new), **key}
        insert = (sqlite_insert if conn.dialect.name == "sqlite" else pg_insert)(table)
        inserted = conn.execute(
            insert.values(values)
            .on_conflict_do_nothing(index_elements=list(key))
            .returning(table.c.id)
        ).scalar()
        if inserted is not None:
            return int(inserted)
        found = (
            conn.execute(
                select(table).where(*(table.c[name] == value for name, value in key.items()))
            )
            .mappings()
            .one()
        )
        current = dict(found)
    changes = {name: value for name, value in wanted(current).items() if current[name] != value}
    if changes:
        conn.execute(update(table).where(table.c.id == current["id"]).values(changes))
    return int(current["id"])


def record_launch(db: Session | Connection, message: c.LaunchMessage) -> Actor:
    """Upsert Person, Course and Membership from a validated launch; the Actor to log in.

    One read for the three rows; an insert for each one missing; an update only for what
    changed (names, roles, course title, the date of the latest launch once in SEEN_EVERY)."""
    now = utcnow()
    mapping = map_roles(message.roles)
    context_id = message.context_id if message.context_id is not None else NO_CONTEXT
    conn = db.connection() if isinstance(db, Session) else db
    row = (
        conn.execute(
            _KNOWN,
            {"platform_id": message.platform_id, "sub": message.sub, "context_id": context_id},
        )
        .one()
        ._mapping
    )
    person_id = _upsert(
        conn,
        _P,
        {"platform_id": message.platform_id, "sub": message.sub},
        _part(row, "p_", _PERSON_NEW),
        lambda current: _person_values(current, message, mapping.institution_admin, now),
        _PERSON_NEW,
    )
    course_id = _upsert(
        conn,
        _C,
        {"platform_id": message.platform_id, "context_id": context_id},
        _part(row, "c_", _COURSE_NEW),
        lambda current: _course_values(current, message, context_id),
        _COURSE_NEW,
    )
    membership = _part(row, "m_", _MEMBERSHIP_NEW)
    if row["p_id"] != person_id or row["c_id"] != course_id:
        membership = None  # a row inserted just now has no membership yet
    _upsert(
        conn,
        _M,
        {"course_id": course_id, "person_id": person_id},
        membership,
        lambda current: _membership_values(current, mapping.role, message.roles, now),
        _MEMBERSHIP_NEW,
    )
    log.info(
        "launch accepted: platform=%s person=%s course=%s role=%s message=%s",
        message.platform_id,
        person_id,
        course_id,
        mapping.role.value,
        message.message_type,
    )
    return Actor(
        person_id=person_id,
        platform_id=message.platform_id,
        course_id=course_id,
        role=mapping.role,
        deployment_id=message.deployment_id,
        launch_id=message.resource_link_id or "",
    )


