"""Rows the service keeps for itself: leases, imported référentiels, the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .types import TZDateTime, utcnow


class Lock(Base):
    """A named lease in the database, so that two sync runs never overlap."""

    __tablename__ = "lock"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(TZDateTime())


class ReferentielRecord(Base):
    """A référentiel imported in the canonical JSON format.

    Imported by an operator (`reperes referentiels import`): `platform_id` is None and every
    platform sees it. Imported by a coordinateur from the pages: only their platform sees it.
    """

    __tablename__ = "referentiel_record"
    __table_args__ = (UniqueConstraint("referentiel_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int | None] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), default=None, index=True
    )
    referentiel_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(50))
    document: Mapped[str] = mapped_column(Text)
    source_format: Mapped[str] = mapped_column(String(20), default="")
    imported_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class AuditLine(Base):
    """What remains after a person is erased: the fact, never the content."""

    __tablename__ = "audit_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    action: Mapped[str] = mapped_column(String(50))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


