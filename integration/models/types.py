"""The shared vocabulary of the tables: enums stored by value, aware datetimes, `utcnow`."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Enum,
    TypeDecorator,
)


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
    LOCAL = "local"  # kept in Repères only: made with `reperes dossier build --no-publish`


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


