"""Tables the LTI room keeps for itself: keys, launches in flight, tickets, registration invites.

Nothing here is a domain fact: a platform, a person, a course live in `integration.models`.
Every row that a launch needs lives in the database so that any instance can finish a
launch another one started.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from ..models import TZDateTime, utcnow


class LtiKey(Base):
    """An RSA key pair: the tool's own (published at /lti/jwks) or the demo platform's.

    `current_for` holds the purpose on the one key that signs today and is NULL on the
    others; its uniqueness stops two workers starting together from both making a key.
    A rotated key keeps being published until `retire_at`, then it is dropped.
    """

    __tablename__ = "lti_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20), default="tool")  # tool | demo
    current_for: Mapped[str | None] = mapped_column(String(20), unique=True, default=None)
    private_pem: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    retire_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)

    def __repr__(self) -> str:
        return f"<LtiKey {self.kid} {self.purpose}>"


class LtiLaunchState(Base):
    """An OIDC login in flight: its `state`, its `nonce`, and what the login request said.

    The row is deleted when the launch that answers it is accepted: a second use of the
    same state (or of its nonce) finds nothing.
    """

    __tablename__ = "lti_launch_state"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), unique=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    target_link_uri: Mapped[str] = mapped_column(String(1000))
    # The frame of the platform's postMessage storage, when the platform offered one.
    storage_target: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TZDateTime(), index=True)


class LtiTicket(Base):
    """A one-time ticket carried by a page instead of a cookie (new window, deep linking).

    Only the SHA-256 of the ticket is stored; the ticket itself travels in a form.
    """

    __tablename__ = "lti_ticket"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # continue | deep_link
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TZDateTime(), index=True)


class LtiRegistrationInvite(Base):
    """Who may use LTI Dynamic Registration: a one-time URL, or a platform host allowed."""

    __tablename__ = "lti_registration_invite"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One of the two is set: the SHA-256 of a one-time token, or an allowed host[:port].
    token_digest: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    host: Mapped[str | None] = mapped_column(String(300), unique=True, default=None)
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)
    used_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)
    platform_id: Mapped[int | None] = mapped_column(
        ForeignKey("platform.id", ondelete="SET NULL"), default=None, index=True
    )
