"""The parcours: chosen référentiels, accompagnateurs, tasks, evidence, tags, reviews,
recognitions and history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from .people import Course, Person
from .types import Modalite, ParcoursStatus, TaskSource, TZDateTime, Verdict, _enum, utcnow

# --- the parcours ---------------------------------------------------------------------


class Parcours(Base):
    """One person's journey towards recognition, in one course."""

    __tablename__ = "parcours"
    __table_args__ = (UniqueConstraint("course_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    modalite: Mapped[Modalite | None] = mapped_column(_enum(Modalite, "modalite"), default=None)
    status: Mapped[ParcoursStatus] = mapped_column(
        _enum(ParcoursStatus, "parcours_status"), default=ParcoursStatus.EN_PREPARATION
    )
    jury_date: Mapped[date | None] = mapped_column(Date, default=None)
    projet: Mapped[str] = mapped_column(Text, default="")  # "ce que je veux faire ensuite"
    # The accompagnateur may add « ce qui reste à montrer » to the dossier as an annex
    # (issue 16); off by default: the candidat's dossier shows what the person can do.
    dossier_remaining_annex: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Indexed: the retention finds the parcours closed long ago without a scan.
    closed_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    person: Mapped[Person] = relationship()
    course: Mapped[Course] = relationship()
    referentiels: Mapped[list[ParcoursReferentiel]] = relationship(
        back_populates="parcours", cascade="all, delete-orphan", order_by="ParcoursReferentiel.id"
    )
    tasks: Mapped[list[Task]] = relationship(
        back_populates="parcours", cascade="all, delete-orphan", order_by="Task.id"
    )
    accompagnateurs: Mapped[list[ParcoursAccompagnateur]] = relationship(
        back_populates="parcours",
        cascade="all, delete-orphan",
        order_by="ParcoursAccompagnateur.id",
    )

    __mapper_args__ = {"version_id_col": version}


class ParcoursAccompagnateur(Base):
    """An accompagnateur who follows this parcours (there may be several)."""

    __tablename__ = "parcours_accompagnateur"
    __table_args__ = (UniqueConstraint("parcours_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parcours_id: Mapped[int] = mapped_column(ForeignKey("parcours.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    added_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), default=None, index=True
    )
    added_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    parcours: Mapped[Parcours] = relationship(back_populates="accompagnateurs")
    person: Mapped[Person] = relationship(foreign_keys=[person_id])


class ParcoursReferentiel(Base):
    """A référentiel version chosen for a parcours."""

    __tablename__ = "parcours_referentiel"
    __table_args__ = (UniqueConstraint("parcours_id", "referentiel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parcours_id: Mapped[int] = mapped_column(ForeignKey("parcours.id", ondelete="CASCADE"))
    referentiel_id: Mapped[str] = mapped_column(String(100))
    referentiel_version: Mapped[str] = mapped_column(String(50))

    parcours: Mapped[Parcours] = relationship(back_populates="referentiels")


class Task(Base):
    """An activité réalisée: what the person does, in their own words."""

    __tablename__ = "task"

    id: Mapped[int] = mapped_column(primary_key=True)
    parcours_id: Mapped[int] = mapped_column(
        ForeignKey("parcours.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    where: Mapped[str] = mapped_column(String(300), default="")
    how: Mapped[str] = mapped_column(Text, default="")
    tools: Mapped[str] = mapped_column(Text, default="")
    frequency: Mapped[str] = mapped_column(String(100), default="")
    started_on: Mapped[date | None] = mapped_column(Date, default=None)
    ended_on: Mapped[date | None] = mapped_column(Date, default=None)
    source: Mapped[TaskSource] = mapped_column(
        _enum(TaskSource, "task_source"), default=TaskSource.WORKPLACE
    )
    # For source=moodle: the course module and its completion as last synced.
    moodle_cmid: Mapped[int | None] = mapped_column(Integer, default=None)
    moodle_completed: Mapped[bool | None] = mapped_column(Boolean, default=None)
    moodle_completed_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)
    # Removing a task only hides it: what a person wrote is never lost (restore brings it back).
    deleted_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)
    # « Ne pas mettre dans le dossier »: the candidat's choice only (issue 16); off by default.
    out_of_dossier: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    version: Mapped[int] = mapped_column(Integer, default=1)

    parcours: Mapped[Parcours] = relationship(back_populates="tasks")
    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="Evidence.id"
    )
    tags: Mapped[list[Tag]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="Tag.id"
    )

    __table_args__ = (UniqueConstraint("parcours_id", "moodle_cmid"),)
    __mapper_args__ = {"version_id_col": version}


class Evidence(Base):
    """A photo or file attached to a task. Names on disk never come from user input."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # an EvidenceKind value
    # The file as received, re-encoded without metadata for photos (full size).
    storage_path: Mapped[str | None] = mapped_column(String(500), default=None)
    # A JPEG copy, 1600 px on the long side: what pages and dossiers show.
    medium_path: Mapped[str | None] = mapped_column(String(500), default=None)
    # A JPEG thumbnail, about 400 px on the long side.
    preview_path: Mapped[str | None] = mapped_column(String(500), default=None)
    original_name: Mapped[str] = mapped_column(String(255), default="")  # display only
    content_type: Mapped[str] = mapped_column(String(100), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    caption: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    # Removing evidence hides it; the files stay until an erasure purges them.
    deleted_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)

    task: Mapped[Task] = relationship(back_populates="evidence")


class Tag(Base):
    """Task -> compétence, against one référentiel version."""

    __tablename__ = "tag"
    __table_args__ = (
        UniqueConstraint("task_id", "referentiel_id", "referentiel_version", "competence_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    referentiel_id: Mapped[str] = mapped_column(String(100))
    referentiel_version: Mapped[str] = mapped_column(String(50))
    competence_code: Mapped[str] = mapped_column(String(100))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow, onupdate=utcnow)

    task: Mapped[Task] = relationship(back_populates="tags")


class Review(Base):
    """The accompagnateur's word on one compétence of a parcours. Rows are kept: latest wins."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(primary_key=True)
    parcours_id: Mapped[int] = mapped_column(
        ForeignKey("parcours.id", ondelete="CASCADE"), index=True
    )
    referentiel_id: Mapped[str] = mapped_column(String(100))
    referentiel_version: Mapped[str] = mapped_column(String(50))
    competence_code: Mapped[str] = mapped_column(String(100))
    verdict: Mapped[Verdict] = mapped_column(_enum(Verdict, "verdict"))
    comment: Mapped[str] = mapped_column(Text, default="")
    reviewer_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), default=None, index=True
    )
    # The signature as it read when the review was made (kept if the person is erased).
    reviewer_name: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    reviewer: Mapped[Person | None] = relationship()


class Recognition(Base):
    """What the jury recognised, per bloc or compétence (partial recognition is normal)."""

    __tablename__ = "recognition"
    __table_args__ = (
        UniqueConstraint("parcours_id", "referentiel_id", "referentiel_version", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parcours_id: Mapped[int] = mapped_column(ForeignKey("parcours.id", ondelete="CASCADE"))
    referentiel_id: Mapped[str] = mapped_column(String(100))
    referentiel_version: Mapped[str] = mapped_column(String(50))
    code: Mapped[str] = mapped_column(String(100))  # a bloc code or a compétence code
    recognised: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class HistoryEntry(Base):
    """What changed in a parcours, by whom and when."""

    __tablename__ = "history_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    parcours_id: Mapped[int] = mapped_column(
        ForeignKey("parcours.id", ondelete="CASCADE"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), default=None, index=True
    )
    action: Mapped[str] = mapped_column(String(50))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)




# --- the accompagnateur's side: what they saw, said and proposed (issue 17) -------------


class TaskSeen(Base):
    """When an accompagnateur last looked at an activity (« À regarder » hides what is seen,
    until the activity changes again)."""

    __tablename__ = "task_seen"
    __table_args__ = (UniqueConstraint("person_id", "task_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    seen_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class ActivityComment(Base):
    """The accompagnateur's words on one activity, tagged with a compétence or not."""

    __tablename__ = "activity_comment"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    parcours_id: Mapped[int] = mapped_column(
        ForeignKey("parcours.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), default=None, index=True
    )
    # The signature as it read when written (kept if the person is erased).
    author_name: Mapped[str] = mapped_column(String(300), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class TagProposal(Base):
    """A compétence the accompagnateur suggests for an activity; the candidat decides
    (accepting makes the Tag, as the candidat's own)."""

    __tablename__ = "tag_proposal"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), index=True)
    referentiel_id: Mapped[str] = mapped_column(String(100))
    referentiel_version: Mapped[str] = mapped_column(String(50))
    competence_code: Mapped[str] = mapped_column(String(100))
    proposed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), default=None, index=True
    )
    proposed_by_name: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)
    accepted: Mapped[bool | None] = mapped_column(Boolean, default=None)
