"""What the candidat's pages keep between two visits: drafts of forms being written, and the
one-time hand-off that opens the same space on the person's phone (issue 15)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .types import TZDateTime, utcnow


class Draft(Base):
    """A form being written, kept as the person types: nothing typed is lost.

    Scoped to one person, one platform and one course; `form_key` names the form
    (`task-new`, `task-12-edit`). The row goes when the form is saved, or with the person.
    """

    __tablename__ = "draft"
    __table_args__ = (UniqueConstraint("person_id", "course_id", "form_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[int] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), index=True
    )
    form_key: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class Handoff(Base):
    """« Continuer sur mon téléphone »: a one-time, short-lived way into the same space.

    Only digests are kept: of the QR link's token, of the short code, and of the session
    that asked (the hand-off is worth nothing once that session has ended). Once used,
    `phone_digest` names the phone's session, which « Quitter » on the computer ends too.
    """

    __tablename__ = "handoff"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    code_digest: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[int] = mapped_column(
        ForeignKey("course.id", ondelete="CASCADE"), index=True
    )
    session_digest: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TZDateTime())
    used_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)
    phone_digest: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
