"""The photos of a parcours copied beside its dossier, under `Photos/`; and the evidence
files kept on this machine during an outage, written to the shared store first."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from connectors.storage import (
    PreconditionFailed,
    StorageError,
    Store,
    join_path,
)

from ..db import transaction
from ..models import (
    Evidence,
    Parcours,
    PendingWrite,
    PublishedPhoto,
    Task,
    utcnow,
)
from ..parcours import kept

if TYPE_CHECKING:
    from ..runtime import Runtime

from .folders import PHOTOS_FOLDER, ensure_folder, photo_file_name
from .writing import backoff

log = logging.getLogger(__name__)

# --- photos beside the dossier ---------------------------------------------------------------


def copy_photos(
    runtime: Runtime, parcours_id: int, *, store: Store | None = None,
    now: datetime | None = None,
) -> int:
    """Copy the reduced photos of the parcours not copied yet, each written once.

    A storage failure stops the copy and queues it (a `PendingWrite` on the photo).
    Returns how many were written.
    """
    store = store if store is not None else runtime.store
    with transaction(runtime.sessions) as session:
        parcours = session.get(Parcours, parcours_id)
        if parcours is None:
            return 0
        folder = ensure_folder(session, parcours)
        rows = session.execute(
            select(Evidence.id, Evidence.medium_path, Evidence.storage_path, Task.title)
            .join(Task, Task.id == Evidence.task_id)
            .outerjoin(PublishedPhoto, PublishedPhoto.evidence_id == Evidence.id)
            .where(
                Task.parcours_id == parcours_id,
                Task.deleted_at.is_(None),
                Evidence.deleted_at.is_(None),
                Evidence.kind == "photo",
                PublishedPhoto.id.is_(None),
            )
            .order_by(Evidence.id)
        ).all()
        folder_id, folder_path = folder.id, folder.path
        waiting = session.execute(
            select(Evidence.id, Evidence.kind, Evidence.storage_path, Evidence.medium_path,
                   Evidence.preview_path)
            .join(PendingWrite, PendingWrite.evidence_id == Evidence.id)
            .join(Task, Task.id == Evidence.task_id)
            .where(Task.parcours_id == parcours_id)
            .order_by(Evidence.id)
        ).all()
    done: list[tuple[int, str, str | None]] = []
    failed: tuple[int, StorageError] | None = None
    # Files received while the store was down go first, each written once (issue 16).
    for evidence_id, kind, full, medium, preview in waiting:
        try:
            kept.upload(store, [p for p in (full, medium, preview) if p], kind=kind,
                        full_path=full)
        except StorageError as error:
            failed = (evidence_id, error)
            rows = []  # the copies beside the dossier wait too
            break
    for evidence_id, medium, original, title in rows:
        source = medium or original
        if not source:
            continue
        target = join_path(folder_path, PHOTOS_FOLDER, photo_file_name(title, evidence_id))
        try:
            data = kept.read(store, source)
            try:
                stored = store.put(target, data, if_none_match=True, content_type="image/jpeg")
                etag = stored.etag
            except PreconditionFailed:
                # Already there (an earlier copy whose answer was lost): written once only.
                current = store.stat(target)
                etag = current.etag if current else None
        except StorageError as error:
            failed = (evidence_id, error)
            break
        done.append((evidence_id, target, etag))
    with transaction(runtime.sessions) as session:
        for evidence_id, target, etag in done:
            session.add(PublishedPhoto(evidence_id=evidence_id, folder_id=folder_id,
                                       path=target, etag=etag))
        if failed is None:
            # Every photo of the parcours is copied (or gone): nothing of it waits any more.
            session.execute(delete(PendingWrite).where(PendingWrite.evidence_id.in_(
                select(Evidence.id).join(Task, Task.id == Evidence.task_id)
                .where(Task.parcours_id == parcours_id)
            )))
        else:
            session.execute(
                delete(PendingWrite).where(PendingWrite.evidence_id.in_([d[0] for d in done]))
            )
            failed_id, failed_error = failed
            log.warning("photo %s not copied: %s", failed_id, failed_error)
            pending = session.scalars(
                select(PendingWrite).where(PendingWrite.evidence_id == failed_id)
            ).first()
            if pending is None:
                pending = PendingWrite(evidence_id=failed_id, attempts=0)
                session.add(pending)
            pending.attempts = (pending.attempts or 0) + 1
            pending.next_attempt_at = (now or utcnow()) + backoff(pending.attempts)
            pending.last_error = str(failed_error)[:2000]
    return len(done)


