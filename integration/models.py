"""The persisted domain of Repères (see DESIGN.md, "The data").

Everything is scoped to a Platform: people, courses and through them parcours.
Référentiel addresses are stored as (referentiel_id, referentiel_version, competence_code)
so that a tag keeps the version it was made against.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Store the value (readable in SQL), as VARCHAR + CHECK so that migrations stay simple.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class Role(enum.StrEnum):
    CANDIDAT = "candidat"
    ACCOMPAGNATEUR = "accompagnateur"
    COORDINATEUR = "coordinateur"


class Modalite(enum.StrEnum):
    CONCRET = "concret"
    ABSTRAIT = "abstrait"
    TRANSFERT = "transfert"


class ParcoursStatus(enum.StrEnum):
    EN_PREPARATION = "en_preparation"
    PRET_POUR_LE_JURY = "pret_pour_le_jury"
    PRESENTE = "presente"
    RECONNU = "reconnu"


class TaskSource(enum.StrEnum):
    WORKPLACE = "workplace"
    COURSEWORK = "coursework"
    MOODLE = "moodle"


class EvidenceKind(enum.StrEnum):
    """What an evidence row holds (stored as its string value)."""

    PHOTO = "photo"
    PDF = "pdf"
    AUDIO = "audio"  # a voice note
    MOODLE = "moodle"  # a Moodle module's completion, written by the sync


class DossierState(enum.StrEnum):
    """Where a dossier's file stands (stored as its string value)."""

    WRITTEN = "written"  # in the storage as we made it
    QUEUED = "queued"  # waiting for the storage to come back
    FAILED = "failed"  # the storage refused it for good
    SUPERSEDED = "superseded"  # a newer version replaced it


class Verdict(enum.StrEnum):
    OUI = "oui"
    NON = "non"
    PARTIELLEMENT = "partiellement"


class TZDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend, stored in UTC.

    SQLite keeps no zone: values are turned to UTC before they are written and read
    back as UTC. (A DateTime subclass overriding result_processor is not enough: the
    SQLite dialect swaps in its own type and the override is never called.)
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


# --- platforms, people, courses ------------------------------------------------------


class Platform(Base):
    """An LTI registration: one issuer and client id (a Moodle site)."""

    __tablename__ = "platform"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_url: Mapped[str] = mapped_column(String(1000))
    token_url: Mapped[str] = mapped_column(String(1000), default="")
    jwks_url: Mapped[str] = mapped_column(String(1000))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Moodle web-service connection for the sync (optional). The token is a secret:
    # it is never logged and never rendered.
    moodle_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    moodle_token: Mapped[str | None] = mapped_column(String(255), default=None)
    # How Moodle people are matched to LTI people when the Moodle id is not enough.
    moodle_match: Mapped[str] = mapped_column(String(20), default="id")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="platform", cascade="all, delete-orphan"
    )

    def __repr__(self) -> str:
        return f"<Platform {self.id} {self.issuer} {self.client_id}>"


class Deployment(Base):
    __tablename__ = "deployment"
    __table_args__ = (UniqueConstraint("platform_id", "deployment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("platform.id", ondelete="CASCADE"))
    deployment_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    platform: Mapped[Platform] = relationship(back_populates="deployments")


class Person(Base):
    """Someone who launched Repères (or was listed by names and roles), by platform and `sub`."""

    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("platform_id", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(300), default="")
    given_name: Mapped[str] = mapped_column(String(200), default="")
    family_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    username: Mapped[str] = mapped_column(String(255), default="")
    is_coordinateur: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)

    platform: Mapped[Platform] = relationship()

    @property
    def display_name(self) -> str:
        full = " ".join(p for p in (self.given_name, self.family_name) if p)
        return self.name or full or self.email or f"Personne {self.id}"

    def __repr__(self) -> str:  # no personal data in reprs: they end up in logs
        return f"<Person {self.id}>"


class Course(Base):
    """An LTI context: where an accompagnateur meets candidats."""

    __tablename__ = "course"
    __table_args__ = (UniqueConstraint("platform_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    context_id: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[str] = mapped_column(String(255), default="")
    title: Mapped[str] = mapped_column(String(500), default="")
    label: Mapped[str] = mapped_column(String(255), default="")
    # The référentiels this course offers, as "id@version" or "id" (latest) strings.
    referentiels: Mapped[list[str]] = mapped_column(JSON, default=list)
    # LTI Advantage service endpoints seen in the latest launch.
    nrps_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    ags_lineitems_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    ags_lineitem_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    ags_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    moodle_course_id: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    platform: Mapped[Platform] = relationship()


class Membership(Base):
    """A person's role in a course, as the latest launch (or names and roles) said."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("course_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    roles_raw: Mapped[list[str]] = mapped_column(JSON, default=list)
    launched: Mapped[bool] = mapped_column(Boolean, default=False)
    last_launch_at: Mapped[datetime | None] = mapped_column(TZDateTime(), default=None)

    course: Mapped[Course] = relationship()
    person: Mapped[Person] = relationship()


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


# --- dossiers, storage queue, sync ----------------------------------------------------


class Dossier(Base):
    """One generated Word document."""

    __tablename__ = "dossier"

    id: Mapped[int] = mapped_column(primary_key=True)
    parcours_id: Mapped[int] = mapped_column(
        ForeignKey("parcours.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    template: Mapped[str] = mapped_column(String(300))
    storage_path: Mapped[str] = mapped_column(String(1000))
    etag: Mapped[str | None] = mapped_column(String(200), default=None)
    checksum: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(20), default=DossierState.WRITTEN.value)
    message: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("person.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class PendingWrite(Base):
    """A write to shared storage that failed and waits to be retried."""

    __tablename__ = "pending_write"

    id: Mapped[int] = mapped_column(primary_key=True)
    dossier_id: Mapped[int | None] = mapped_column(
        ForeignKey("dossier.id", ondelete="CASCADE"), default=None, index=True
    )
    evidence_id: Mapped[int | None] = mapped_column(
        ForeignKey("evidence.id", ondelete="CASCADE"), default=None, index=True
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


#: ActivityMapping.status: a link the sync tags with.
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


# --- shared storage: each candidat's folder, the photos copied there, structures' templates ---


class DossierFolder(Base):
    """Where a parcours' dossier and photos go in shared storage, chosen once and then kept."""

    __tablename__ = "dossier_folder"

    id: Mapped[int] = mapped_column(primary_key=True)
    parcours_id: Mapped[int] = mapped_column(
        ForeignKey("parcours.id", ondelete="CASCADE"), unique=True
    )
    # "RAE/<course title>/<Nom Prénom>", cleaned; unique, so two namesakes never share one.
    path: Mapped[str] = mapped_column(String(1000), unique=True)
    # The folder it is in ("RAE/<course title>"): namesakes are found by equality, which an
    # index answers under any collation (a LIKE prefix cannot use one on PostgreSQL).
    parent: Mapped[str] = mapped_column(String(1000), default="", index=True)
    # "<Nom Prénom>" as file names write it: "Dossier de preuves - <name>.docx".
    name: Mapped[str] = mapped_column(String(300))
    web_url: Mapped[str | None] = mapped_column(String(1000), default=None)
    # Nextcloud user name -> share id, for the shares Repères made on this folder.
    shares: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    share_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)

    __table_args__ = (
        # The retry of shares reads only the few folders whose share failed.
        Index("ix_dossier_folder_share_pending", "parcours_id",
              postgresql_where=text("share_error <> ''"), sqlite_where=text("share_error <> ''")),
    )


class PublishedPhoto(Base):
    """An evidence photo (its reduced copy) written once into its parcours' folder."""

    __tablename__ = "published_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("evidence.id", ondelete="CASCADE"), unique=True
    )
    folder_id: Mapped[int] = mapped_column(
        ForeignKey("dossier_folder.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(1000))
    etag: Mapped[str | None] = mapped_column(String(200), default=None)
    written_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class DossierTemplate(Base):
    """A structure's own Word template for its dossiers (checked before it is stored)."""

    __tablename__ = "dossier_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    checksum: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    uploaded_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class SessionRecord(Base):
    """One signed-in browser: the server side of the session cookie (integration/auth.py).

    The cookie carries a random id; only its SHA-256 is kept here. A request whose record is
    missing, idle for too long or too old has no actor: deleting the rows of a person or of
    a platform ends their sessions at once (erase, platform removal, « Quitter »).
    """

    __tablename__ = "session_record"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int] = mapped_column(
        ForeignKey("person.id", ondelete="CASCADE"), index=True
    )
    platform_id: Mapped[int] = mapped_column(
        ForeignKey("platform.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(TZDateTime(), index=True)
