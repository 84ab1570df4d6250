"""Publishing a dossier: written now when the store answers, queued when it does not.

Outages. When the store is down or refuses (401, 403, 507 quota, 5xx), the dossier stays
in the database (`Dossier.content`) and downloadable from Repères; a `PendingWrite` row
waits and the queue (`queue.drain_pending_writes`) tries again after 1, 5, 15, then every
60 minutes. One lease per parcours (`integration.ops.locks`) keeps two processes from
writing the same folder at once, so nothing is written twice.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, defer

from connectors.storage import (
    InvalidPath,
    StorageError,
    Store,
    join_path,
)

from ..db import transaction
from ..models import (
    Course,
    Dossier,
    DossierState,
    Parcours,
    PendingWrite,
    Platform,
    utcnow,
)
from ..ops.locks import Lease
from ..platform_settings import local_time

if TYPE_CHECKING:
    from ..runtime import Runtime

from .folders import dossier_file_name, ensure_folder
from .photos import copy_photos
from .shares import _is_nextcloud, ensure_shares, remember_web_url
from .writing import Remembered, Written, backoff, write_dossier_file

log = logging.getLogger(__name__)

# Dossier.state values. `superseded`: a queued version replaced by a newer one before it
# could be copied (the newer one holds everything it held).
WRITTEN, QUEUED, FAILED, SUPERSEDED = (
    DossierState.WRITTEN, DossierState.QUEUED, DossierState.FAILED, DossierState.SUPERSEDED)
# `local`: made with `reperes dossier build --no-publish`, never queued.
LOCAL = DossierState.LOCAL
LOCAL_TEXT = "Le dossier est prêt ici. Il n’est pas copié dans le dossier partagé."

#: While a request writes a new dossier itself, the queue leaves it alone this long;
#: if that process dies mid-write, the queue takes over afterwards.
INLINE_GRACE = timedelta(minutes=2)
LEASE_TTL = timedelta(minutes=10)
def _messages(store: Store) -> tuple[str, str, str]:
    where = "Nextcloud" if _is_nextcloud(store) else "le dossier partagé"
    return (
        f"Le dossier est prêt. Il sera copié dans {where} dès que possible.",
        f"Le dossier est prêt ici. Il n’a pas pu être copié dans {where} : "
        "prévenez le coordinateur.",
        where,
    )


# --- publishing a dossier -------------------------------------------------------------------


@dataclass(frozen=True)
class PublishOutcome:
    """What happened to one dossier: its state, where it is, what to tell people."""

    dossier_id: int
    state: str
    path: str = ""
    message: str = ""
    error: str = ""
    busy: bool = False
    photos_written: int = 0


@dataclass(frozen=True)
class _Plan:
    parcours_id: int
    version: int
    folder_id: int
    folder_path: str
    name: str
    data: bytes
    remembered: dict[str, Remembered]
    after_failure: bool
    now_local: datetime


def queue_dossier(session: Session, dossier: Dossier, *, now: datetime | None = None) -> None:
    """Put a new dossier in the queue before trying to write it (see INLINE_GRACE)."""
    session.add(PendingWrite(dossier_id=dossier.id, attempts=0,
                             next_attempt_at=(now or utcnow()) + INLINE_GRACE))


def _lease(runtime: Runtime, parcours_id: int) -> Lease:
    return Lease(runtime.engine, f"dossier-publish:{parcours_id}", ttl=LEASE_TTL)


def publish_dossier(
    runtime: Runtime,
    dossier_id: int,
    *,
    store: Store | None = None,
    wait_seconds: float = 10.0,
    now: datetime | None = None,
    content: bytes | None = None,
) -> PublishOutcome:
    """Write one dossier (and the photos not copied yet) into its parcours' folder.

    Never raises for a storage problem: the dossier stays queued and the outcome says so.
    `content`: the dossier's bytes when the caller holds them already (checked against the
    recorded checksum), which saves reading them back from the database.
    """
    store = store if store is not None else runtime.store
    queued_text, failed_text, where = _messages(store)
    with transaction(runtime.sessions) as session:
        parcours_id = session.scalar(select(Dossier.parcours_id).where(Dossier.id == dossier_id))
        if parcours_id is None:
            return PublishOutcome(dossier_id, "missing")
    lease = _lease(runtime, parcours_id)
    if not lease.acquire_waiting(wait_seconds, poll_seconds=0.2):
        return PublishOutcome(dossier_id, QUEUED, message=queued_text, busy=True)
    lease.start_keeper()
    try:
        plan_or_outcome = _plan(runtime, dossier_id, now, content)
        if isinstance(plan_or_outcome, PublishOutcome):
            return plan_or_outcome
        plan = plan_or_outcome
        try:
            written = write_dossier_file(
                store, plan.folder_path, plan.name, plan.data, plan.remembered,
                plan.now_local, after_failure=plan.after_failure,
            )
        except StorageError as error:
            return _record_failure(runtime, dossier_id, error, queued_text, failed_text, now)
        usual = join_path(plan.folder_path, dossier_file_name(plan.name))
        message = ""
        if written.path != usual:
            edited_name = (written.edited or usual).rsplit("/", 1)[-1]
            message = (
                f"Quelqu’un a changé « {edited_name} » dans {where}. "
                f"Ses changements sont gardés. Le nouveau dossier s’appelle "
                f"« {written.path.rsplit('/', 1)[-1]} »."
            )
        _record_written(runtime, dossier_id, written, message)
        photos = _after_write(runtime, plan, store, now)
        return PublishOutcome(dossier_id, WRITTEN, written.path, message,
                              photos_written=photos)
    finally:
        lease.release()


def _after_write(runtime: Runtime, plan: _Plan, store: Store, now: datetime | None) -> int:
    """Photos, shares and the folder's link: the dossier is safe whatever happens here."""
    photos = 0
    try:
        photos = copy_photos(runtime, plan.parcours_id, store=store, now=now)
        ensure_shares(runtime, plan.parcours_id, store=store)
        remember_web_url(runtime, plan.folder_id, store)
    except Exception:
        log.exception("parcours %s: dossier written, but its photos or shares failed",
                      plan.parcours_id)
    return photos


def _plan(
    runtime: Runtime, dossier_id: int, now: datetime | None, content: bytes | None
) -> _Plan | PublishOutcome:
    moment = now or utcnow()
    with transaction(runtime.sessions) as session:
        dossier = session.get(Dossier, dossier_id, options=[defer(Dossier.content)])
        if dossier is None:
            return PublishOutcome(dossier_id, "missing")
        pending = list(session.scalars(
            select(PendingWrite).where(PendingWrite.dossier_id == dossier_id)
        ))
        if dossier.state in (WRITTEN, SUPERSEDED):
            for row in pending:
                session.delete(row)
            return PublishOutcome(dossier_id, dossier.state, dossier.storage_path,
                                  dossier.message)
        # A newer version written, or waiting to be: this one would only be overwritten.
        newer = session.scalar(
            select(Dossier.id).where(
                Dossier.parcours_id == dossier.parcours_id,
                Dossier.id > dossier.id,
                Dossier.state.in_((WRITTEN, QUEUED)),
            ).limit(1)
        )
        if content is None or hashlib.sha256(content).hexdigest() != dossier.checksum:
            content = session.scalar(select(Dossier.content).where(Dossier.id == dossier_id))
        if newer is not None or content is None:
            _supersede(session, dossier)
            return PublishOutcome(dossier_id, SUPERSEDED, message=dossier.message)
        parcours = session.get(Parcours, dossier.parcours_id)
        assert parcours is not None
        folder = ensure_folder(session, parcours)
        course = session.get(Course, parcours.course_id)
        platform = session.get(Platform, course.platform_id) if course else None
        remembered: dict[str, Remembered] = {}
        for path, etag, size, checksum in session.execute(
            select(Dossier.storage_path, Dossier.etag, Dossier.size, Dossier.checksum)
            .where(Dossier.parcours_id == dossier.parcours_id, Dossier.state == WRITTEN)
            .order_by(Dossier.id)
        ):
            remembered.pop(path, None)  # newest last: a path written again moves down
            remembered[path] = Remembered(etag, size, checksum)
        return _Plan(
            parcours_id=dossier.parcours_id,
            version=dossier.version,
            folder_id=folder.id,
            folder_path=folder.path,
            name=folder.name,
            data=content,
            remembered=remembered,
            # A try failed before, or a request died writing it: the file there may be
            # the start of our own upload.
            after_failure=any(row.attempts > 0 or row.next_attempt_at <= moment
                              for row in pending),
            now_local=local_time(platform, moment),
        )


def _supersede(session: Session, dossier: Dossier) -> None:
    dossier.state = SUPERSEDED
    dossier.content = None
    dossier.message = "Une version plus récente l’a remplacé avant la copie."
    session.execute(delete(PendingWrite).where(PendingWrite.dossier_id == dossier.id))


def _record_written(runtime: Runtime, dossier_id: int, written: Written, message: str) -> None:
    with transaction(runtime.sessions) as session:
        dossier = session.get(Dossier, dossier_id, options=[defer(Dossier.content)])
        assert dossier is not None
        dossier.state = WRITTEN
        dossier.storage_path = written.path
        dossier.etag = written.etag
        dossier.message = message
        session.execute(delete(PendingWrite).where(PendingWrite.dossier_id == dossier_id))
        # Older versions: the latest copy in the database is enough to download from
        # Repères; queued ones are replaced by this one.
        for older in session.scalars(
            select(Dossier).options(defer(Dossier.content))
            .where(Dossier.parcours_id == dossier.parcours_id, Dossier.id < dossier.id,
                   Dossier.state.in_((QUEUED, FAILED)))
        ):
            _supersede(session, older)
        session.execute(
            update(Dossier)
            .where(Dossier.parcours_id == dossier.parcours_id, Dossier.id < dossier.id,
                   Dossier.content.is_not(None))
            .values(content=None)
        )


def _record_failure(
    runtime: Runtime,
    dossier_id: int,
    error: StorageError,
    queued_text: str,
    failed_text: str,
    now: datetime | None,
) -> PublishOutcome:
    moment = now or utcnow()
    # A name the server refuses will be refused again: no retry, the dossier stays here.
    retry = not isinstance(error, InvalidPath)
    log.warning("dossier %s not written (%s): %s", dossier_id,
                "will retry" if retry else "gave up", error)
    with transaction(runtime.sessions) as session:
        dossier = session.get(Dossier, dossier_id, options=[defer(Dossier.content)])
        assert dossier is not None
        pending = session.scalars(
            select(PendingWrite).where(PendingWrite.dossier_id == dossier_id)
        ).first()
        if retry:
            if pending is None:
                pending = PendingWrite(dossier_id=dossier_id, attempts=0)
                session.add(pending)
            pending.attempts = (pending.attempts or 0) + 1
            pending.next_attempt_at = moment + backoff(pending.attempts)
            pending.last_error = str(error)[:2000]
            dossier.state = QUEUED
            dossier.message = queued_text
        else:
            if pending is not None:
                session.delete(pending)
            dossier.state = FAILED
            dossier.message = failed_text
        state, message = dossier.state, dossier.message
    return PublishOutcome(dossier_id, state, message=message, error=str(error))


