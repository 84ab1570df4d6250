"""The Moodle sync's rows: module mappings and runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .types import TZDateTime, utcnow

MAPPING_CONFIRMED = "confirmed"
#: ActivityMapping.status: a proposal from Moodle's own competency links that a person
#: unticked, kept so that it is not proposed again.
MAPPING_REJECTED = "rejected"


class ActivityMapping(Base):
    """A Moodle course module -> a compétence, for the sync (when confirmed)."""

    __tablename__ = "activity_mapping"
    __table_args__ = (
        UniqueConstraint(
            "course_id", "moodle_cmid", "referentiel_id", "referentiel_version", "competence_code"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    moodle_cmid: Mapped[int] = mapped_column(Integer)
    module_name: Mapped[str] = mapped_column(String(500), default="")
    referentiel_id: Mapped[str] = mapped_column(String(100))
    referentiel_version: Mapped[str] = mapped_column(String(50))
    competence_code: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(
        String(20), default=MAPPING_CONFIRMED, server_default=MAPPING_CONFIRMED
    )
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class SyncRun(Base):
    """One run of the Moodle sync, and what it did."""

    __tablename__ = "sync_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int | None] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), default=None, index=True
    )
    trigger: Mapped[str] = mapped_column(String(20), default="cli")  # cli | timer | launch
    started_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)
    state: Mapped[str] = mapped_column(String(20), default="running")  # running|ok|partial|failed
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)


