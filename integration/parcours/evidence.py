"""Evidence: files attached to a task, kept in the file store, described in the database.

The two never disagree for long:
- a store write that fails leaves no row (and what was already written is removed);
- a row whose transaction rolls back (or whose commit fails) gets its files removed by the
  session's end-of-transaction hook below, so no orphan stays behind unnoticed.
Names on disk are made here (`evidence/<parcours id>/<uuid>…`), never from user input.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from connectors.storage import NotFound as StoreNotFound
from connectors.storage import StorageError, Store

from ..actor import Actor
from ..models import Evidence, PendingWrite, utcnow
from . import kept
from .access import evidence_for, require_own_words, task_for
from .errors import Invalid, NotFound, StorageFailed
from .files import prepare
from .history import record
from .text import clean_text

log = logging.getLogger(__name__)

MAX_EVIDENCE_PER_TASK = 60
VARIANTS = ("full", "medium", "preview")
_ON_ROLLBACK = "reperes.evidence.files_on_rollback"


# --- keeping files and rows together ---------------------------------------------------


def _delete_quietly(store: Store, paths: list[str]) -> list[str]:
    """Delete what can be; return what could not (it is logged for an operator)."""
    left = []
    for path in paths:
        try:
            store.delete(path)
        except StorageError as error:
            left.append(path)
            log.error("evidence file left behind, delete it by hand: %s (%s)", path, error)
    return left


def _delete_on_rollback(session: Session, store: Store, paths: list[str]) -> None:
    session.info.setdefault(_ON_ROLLBACK, []).append((store, list(paths)))


@event.listens_for(Session, "after_commit")
def _files_kept(session: Session) -> None:
    session.info.pop(_ON_ROLLBACK, None)


@event.listens_for(Session, "after_transaction_end")
def _files_dropped(session: Session, transaction: SessionTransaction) -> None:
    # Only the outermost transaction decides; a commit has already forgotten the files.
    if transaction.parent is not None or transaction.nested:
        return
    for store, paths in session.info.pop(_ON_ROLLBACK, []):
        _delete_quietly(store, paths)


# --- services --------------------------------------------------------------------------


def attach_evidence(
    session: Session,
    actor: Actor,
    store: Store,
    task_id: int,
    data: bytes,
    *,
    filename: str = "",
    caption: object = "",
) -> Evidence:
    """Check a file, store it (photos without metadata, plus two reduced copies), describe it."""
    task = task_for(session, actor, task_id)
    require_own_words(actor, task.parcours)
    text = clean_text(caption, "caption", multiline=False)
    count = session.scalar(
        select(func.count(Evidence.id)).where(
            Evidence.task_id == task.id, Evidence.deleted_at.is_(None)
        )
    )
    if (count or 0) >= MAX_EVIDENCE_PER_TASK:
        raise Invalid(
            f"Une activité a {MAX_EVIDENCE_PER_TASK} preuves au plus. "
            "Retirez-en une ou créez une autre activité.",
            field="file",
        )
    prepared = prepare(data)
    base = f"evidence/{task.parcours_id}/{uuid.uuid4().hex}"
    files = [(f"{base}.{prepared.extension}", prepared.full, prepared.content_type)]
    if prepared.medium is not None:
        files.append((f"{base}-medium.jpg", prepared.medium, "image/jpeg"))
    if prepared.preview is not None:
        files.append((f"{base}-preview.jpg", prepared.preview, "image/jpeg"))
    written: list[str] = []
    local = kept.kept_for(store)
    deferred: StorageError | None = None
    try:
        for path, content, content_type in files:
            store.put(path, content, if_none_match=True, content_type=content_type)
            written.append(path)
    except StorageError as error:
        log.error("evidence not stored (%s): %s", store.describe(), error)
        _delete_quietly(store, written)
        written = []
        if local is None:
            raise StorageFailed(
                "La preuve n’a pas pu être enregistrée. Rien n’est perdu : "
                "réessayez dans un moment."
            ) from None
        deferred = error  # kept here, written to the shared store later (issue 16)
    if local is not None:
        # The reduced copies and voice notes stay here too; the whole file while it waits.
        to_keep = [f for f in files if deferred is not None or f[0] != files[0][0]
                   or prepared.kind in kept.KEEP_FULL_KINDS]
        held = [path for path, content, content_type in to_keep
                if kept.keep(local, path, content, content_type)]
        _delete_on_rollback(session, local, held)
        if deferred is not None and len(held) < len(to_keep):
            _delete_quietly(local, held)
            raise StorageFailed(
                "La preuve n’a pas pu être enregistrée. Rien n’est perdu : "
                "réessayez dans un moment."
            )
    _delete_on_rollback(session, store, written)
    evidence = Evidence(
        task_id=task.id,
        kind=prepared.kind,
        storage_path=files[0][0],
        medium_path=f"{base}-medium.jpg" if prepared.medium is not None else None,
        preview_path=f"{base}-preview.jpg" if prepared.preview is not None else None,
        original_name=clean_text(_display_name(filename), "caption", multiline=False,
                                 max_length=10_000)[:255],
        content_type=prepared.content_type,
        size=len(prepared.full),
        sha256=prepared.sha256,
        width=prepared.width,
        height=prepared.height,
        caption=text,
        created_by_id=actor.person_id,
    )
    session.add(evidence)
    session.flush()
    if deferred is not None:
        session.add(PendingWrite(evidence_id=evidence.id, attempts=1,
                                 next_attempt_at=utcnow() + timedelta(minutes=1),
                                 last_error=str(deferred)[:2000]))
        evidence.waiting_for_storage = True  # the pages say it is kept, in plain words
    record(session, task.parcours_id, actor, "evidence.added", task_id=task.id,
           evidence_id=evidence.id, kind=evidence.kind, name=evidence.original_name)
    session.flush()
    return evidence


def _display_name(filename: object) -> str:
    # The name is shown, never used as a path: keep its last part only.
    if not isinstance(filename, str):
        return ""
    return filename.replace("\\", "/").rsplit("/", 1)[-1]


def list_evidence(
    session: Session, actor: Actor, task_id: int, *, deleted: bool = False
) -> list[Evidence]:
    task = task_for(session, actor, task_id)
    stmt = select(Evidence).where(Evidence.task_id == task.id)
    stmt = stmt.where(
        Evidence.deleted_at.is_not(None) if deleted else Evidence.deleted_at.is_(None)
    )
    return list(session.scalars(stmt.order_by(Evidence.id)))


def get_evidence(session: Session, actor: Actor, evidence_id: int) -> Evidence:
    return evidence_for(session, actor, evidence_id)


def set_caption(session: Session, actor: Actor, evidence_id: int, caption: object) -> Evidence:
    evidence = evidence_for(session, actor, evidence_id)
    require_own_words(actor, evidence.task.parcours)
    text = clean_text(caption, "caption", multiline=False)
    if text != evidence.caption:
        old = evidence.caption
        evidence.caption = text
        record(session, evidence.task.parcours_id, actor, "evidence.caption",
               evidence_id=evidence.id, old=old, new=text)
        session.flush()
    return evidence


def delete_evidence(session: Session, actor: Actor, evidence_id: int) -> Evidence:
    """Hide evidence; its files stay (it can be restored)."""
    evidence = evidence_for(session, actor, evidence_id)
    require_own_words(actor, evidence.task.parcours)
    evidence.deleted_at = utcnow()
    record(session, evidence.task.parcours_id, actor, "evidence.deleted",
           task_id=evidence.task_id, evidence_id=evidence.id, name=evidence.original_name)
    session.flush()
    return evidence


def restore_evidence(session: Session, actor: Actor, evidence_id: int) -> Evidence:
    evidence = evidence_for(session, actor, evidence_id, include_deleted=True)
    require_own_words(actor, evidence.task.parcours)
    if evidence.deleted_at is not None:
        evidence.deleted_at = None
        record(session, evidence.task.parcours_id, actor, "evidence.restored",
               task_id=evidence.task_id, evidence_id=evidence.id)
        session.flush()
    return evidence


@dataclass(frozen=True)
class EvidenceFile:
    chunks: Iterator[bytes]
    content_type: str
    download_name: str
    etag: str


def _local_first(store: Store, path: str) -> Iterator[bytes]:
    """The file's copy kept on this machine when there is one (the shared store may be down
    or slow), else the shared store's."""
    local = kept.kept_for(store)
    if local is not None:
        try:
            return local.iter_chunks(path)
        except StorageError:
            pass
    return store.iter_chunks(path)


def open_evidence_file(
    session: Session, actor: Actor, store: Store, evidence_id: int, variant: str = "full"
) -> EvidenceFile:
    """The content of one evidence file: `full`, `medium` (1600 px) or `preview` (400 px)."""
    if variant not in VARIANTS:
        raise Invalid("Choisissez : full, medium ou preview.", field="variant")
    evidence = evidence_for(session, actor, evidence_id)
    path = {
        "full": evidence.storage_path,
        "medium": evidence.medium_path,
        "preview": evidence.preview_path,
    }[variant]
    if path is None:
        if variant == "full":
            raise NotFound("Cette preuve n’a pas de fichier (elle vient du cours Moodle).")
        raise NotFound("Il n’y a pas d’aperçu pour ce fichier. Ouvrez le fichier entier.")
    content_type = evidence.content_type if variant == "full" else "image/jpeg"
    extension = path.rsplit(".", 1)[-1]
    try:
        chunks = _local_first(store, path)
    except StoreNotFound:
        log.error("evidence %s: file missing in the store: %s", evidence.id, path)
        raise StorageFailed("Le fichier de cette preuve est introuvable pour le moment.") from None
    except StorageError as error:
        log.error("evidence %s: cannot read %s: %s", evidence.id, path, error)
        raise StorageFailed("Le fichier n’est pas lisible pour le moment. Réessayez.") from None
    return EvidenceFile(
        chunks=chunks,
        content_type=content_type,
        download_name=f"preuve-{evidence.id}{'' if variant == 'full' else '-' + variant}"
        f".{extension}",
        etag=f"{evidence.sha256[:32]}-{variant}",
    )
