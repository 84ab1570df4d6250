"""One-time tickets: a launch that could not keep a session in the frame hands over to a new
window (bound to the browser that asked), and deep linking keeps its request between pages."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    delete,
)

from .context import LtiContext
from .errors import LaunchError
from .launch import utcnow
from .models import LtiTicket

TICKET_LIFETIME = timedelta(minutes=5)
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
