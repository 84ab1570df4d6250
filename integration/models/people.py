"""Platforms (LTI registrations), their deployments, people, courses, memberships, sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base
from .types import Role, TZDateTime, _enum, utcnow

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
