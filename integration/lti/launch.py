"""The OIDC login and the launch, as plain services over the database.

`begin_login` answers a platform's login initiation with a fresh state and nonce kept in
the database; `check_launch` validates the id_token against them without writing;
`accept_launch` consumes the state (a replay finds nothing) and records the person, the
course and the membership in the same transaction.

A launch without a context (a platform may place Repères outside any course) lands in the
platform's pseudo-course whose `context_id` is "" (`NO_CONTEXT`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ..actor import Actor
from ..models import Course, Membership, Person, Platform
from . import claims as c
from .context import LtiContext
from .errors import LaunchError
from .models import LtiLaunchState, LtiTicket
from .roles import map_roles
from .validation import Registration, split_token, validate_id_token

log = logging.getLogger(__name__)

NO_CONTEXT = ""
NO_CONTEXT_TITLE = "Hors cours"
STATE_LIFETIME = timedelta(minutes=10)
TICKET_LIFETIME = timedelta(minutes=5)
MAX_URL = 1000  # the longest URL our columns keep
_FRAME_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- registrations ----------------------------------------------------------------------


def registrations_for(session: Session, issuer: str) -> list[Registration]:
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
                title="Repères ne connaît pas cette plateforme.",
                advice="Demandez à l’administrateur de Moodle d’enregistrer Repères.",
            )
        if len(platforms) > 1:
            raise LaunchError(f"issuer {issuer!r} has several client ids and sent none")
        platform = platforms[0]
        if not platform.active:
            raise LaunchError(f"platform {issuer!r} is switched off", status=403)
        if deployment_id is not None and deployment_id not in {
            d.deployment_id for d in platform.deployments
        }:
            raise LaunchError(f"deployment {deployment_id!r} is not registered for {issuer!r}")

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


@dataclass(frozen=True)
class PendingLaunch:
    """A valid id_token and the login it answers, not yet consumed."""

    message: c.LaunchMessage
    state: str
    nonce: str
    storage_target: str | None
    auth_origin: str


def check_launch(
    lti: LtiContext, form: Mapping[str, str], *, now: float | None = None
) -> PendingLaunch:
    """Validate a launch POST against its login; writes nothing."""
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
    issuer = split_token(token)[1].get("iss")
    with lti.sessions.begin() as session:
        row = session.get(LtiLaunchState, state)
        if row is None or row.expires_at < utcnow():
            raise LaunchError(
                "state unknown: expired, already used, or never issued by this tool",
                title="Ce lien d’ouverture a expiré ou a déjà servi.",
            )
        platform = session.get(Platform, row.platform_id)
        assert platform is not None  # the foreign key cascades
        auth_origin = _origin(platform.auth_url)
        nonce, target, storage = row.nonce, row.target_link_uri, row.storage_target
        known = registrations_for(session, issuer) if isinstance(issuer, str) else []
    # No transaction stays open while the platform's JWKS may be fetched.
    message = validate_id_token(
        token,
        registrations=lambda iss: known if iss == issuer else [],
        key_for=lti.platform_keys.key,
        expected_nonce=nonce,
        expected_target=target,
        expected_platform_id=platform.id,
        now=now,
    )
    return PendingLaunch(message, state, nonce, storage, auth_origin)


def accept_launch(lti: LtiContext, pending: PendingLaunch) -> Actor:
    """Consume the login (once only) and record who launched, from where, as what."""
    for attempt in range(2):
        try:
            with lti.sessions.begin() as session:
                consumed = session.execute(
                    delete(LtiLaunchState).where(
                        LtiLaunchState.state == pending.state,
                        LtiLaunchState.nonce == pending.nonce,
                    )
                )
                if getattr(consumed, "rowcount", 0) != 1:
                    raise LaunchError(
                        "state and nonce already consumed: a replayed launch",
                        title="Ce lien d’ouverture a déjà servi.",
                    )
                return record_launch(session, pending.message)
        except IntegrityError:
            if attempt:
                raise
            log.info("concurrent first launch of the same person or course; retrying once")
    raise AssertionError("unreachable")


_PERSON_FIELDS = (
    ("name", 300),
    ("given_name", 200),
    ("family_name", 200),
    ("email", 320),
    ("username", 255),
)


def _url(value: str | None) -> str | None:
    return value if value and len(value) <= MAX_URL else None


def record_launch(session: Session, message: c.LaunchMessage) -> Actor:
    """Upsert Person, Course and Membership from a validated launch; the Actor to log in."""
    now = utcnow()
    mapping = map_roles(message.roles)

    person = session.scalar(
        select(Person).where(Person.platform_id == message.platform_id, Person.sub == message.sub)
    )
    if person is None:
        person = Person(platform_id=message.platform_id, sub=message.sub)
        session.add(person)
    # Only what the launch says overwrites: a platform that hides names keeps the old ones.
    for attr, length in _PERSON_FIELDS:
        value = getattr(message, attr)
        if value is not None:
            setattr(person, attr, value[:length])
    person.is_coordinateur = mapping.institution_admin
    person.last_seen_at = now

    context_id = message.context_id if message.context_id is not None else NO_CONTEXT
    course = session.scalar(
        select(Course).where(
            Course.platform_id == message.platform_id, Course.context_id == context_id
        )
    )
    if course is None:
        course = Course(platform_id=message.platform_id, context_id=context_id, referentiels=[])
        session.add(course)
    course.deployment_id = message.deployment_id
    if context_id == NO_CONTEXT:
        course.title = course.title or NO_CONTEXT_TITLE
    else:
        course.title = message.context_title[:500] or course.title
        course.label = message.context_label[:255] or course.label
        if (
            message.product_family_code == "moodle"
            and course.moodle_course_id is None
            and context_id.isdigit()
        ):
            course.moodle_course_id = int(context_id)  # a Moodle context id is the course id
    if message.nrps_url:
        course.nrps_url = _url(message.nrps_url)
    if message.ags_lineitems_url or message.ags_lineitem_url:
        course.ags_lineitems_url = _url(message.ags_lineitems_url)
        course.ags_lineitem_url = _url(message.ags_lineitem_url)
        course.ags_scopes = list(message.ags_scopes)
    referentiel = message.custom.get(c.CUSTOM_REFERENTIEL)
    if (
        isinstance(referentiel, str)
        and referentiel
        and referentiel not in (course.referentiels or [])
    ):
        course.referentiels = [*(course.referentiels or []), referentiel[:150]]
    session.flush()

    membership = session.scalar(
        select(Membership).where(
            Membership.course_id == course.id, Membership.person_id == person.id
        )
    )
    if membership is None:
        membership = Membership(course_id=course.id, person_id=person.id)
        session.add(membership)
    membership.role = mapping.role
    membership.roles_raw = list(message.roles)
    membership.launched = True
    membership.last_launch_at = now
    session.flush()
    log.info(
        "launch accepted: platform=%s person=%s course=%s role=%s message=%s",
        message.platform_id,
        person.id,
        course.id,
        mapping.role.value,
        message.message_type,
    )
    return Actor(
        person_id=person.id,
        platform_id=message.platform_id,
        course_id=course.id,
        role=mapping.role,
        deployment_id=message.deployment_id,
        launch_id=message.resource_link_id or "",
    )


# --- one-time tickets -------------------------------------------------------------------


def _digest(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


def issue_ticket(
    lti: LtiContext, kind: str, payload: dict[str, Any], lifetime: timedelta = TICKET_LIFETIME
) -> str:
    ticket = secrets.token_urlsafe(32)
    now = utcnow()
    with lti.sessions.begin() as session:
        session.execute(delete(LtiTicket).where(LtiTicket.expires_at < now))
        session.add(
            LtiTicket(
                digest=_digest(ticket),
                kind=kind,
                payload=payload,
                created_at=now,
                expires_at=now + lifetime,
            )
        )
    return ticket


def issue_continue_ticket(lti: LtiContext, actor: dict[str, Any]) -> tuple[str, str]:
    """A "continue" ticket and its binding: the page that asked keeps the binding in its
    script and hands both to the window it opens (postMessage, same origin only); the
    ticket alone, posted from elsewhere, signs no one in."""
    binding = secrets.token_urlsafe(32)
    ticket = issue_ticket(lti, "continue", {"actor": actor, "binding": _digest(binding)})
    return ticket, binding


def redeem_continue_ticket(lti: LtiContext, ticket: str, binding: str) -> dict[str, Any]:
    """The actor of a "continue" ticket, once, when the binding of the page that asked is sent."""
    payload = redeem_ticket(lti, "continue", ticket)  # spent even when the binding is wrong
    expected = payload.get("binding")
    if not (
        isinstance(expected, str)
        and binding
        and hmac.compare_digest(expected, _digest(binding))
        and isinstance(payload.get("actor"), dict)
    ):
        raise LaunchError(
            "continue ticket posted without the binding of the page that asked for it",
            status=403,
            title="Ce lien ne peut pas ouvrir Repères.",
            advice="Ouvrez Repères depuis votre cours Moodle.",
        )
    actor: dict[str, Any] = payload["actor"]
    return actor


def redeem_ticket(lti: LtiContext, kind: str, ticket: str) -> dict[str, Any]:
    """The ticket's payload, once; LaunchError when unknown, used or expired."""
    if not ticket:
        raise LaunchError(f"{kind} without ticket")
    with lti.sessions.begin() as session:
        row = session.get(LtiTicket, _digest(ticket))
        if row is not None and row.kind == kind:
            session.delete(row)
            payload, expires_at = dict(row.payload), row.expires_at
        else:
            payload, expires_at = None, None
    if payload is None or expires_at is None:
        raise LaunchError(
            f"{kind} ticket unknown or already used", title="Ce lien a déjà servi ou a expiré."
        )
    if expires_at < utcnow():
        raise LaunchError(f"{kind} ticket expired", title="Ce lien a expiré.")
    return payload
