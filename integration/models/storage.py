"""Dossiers, the storage queue, each parcours' folder, published photos, structures' templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base
from .types import DossierState, TZDateTime, utcnow

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


