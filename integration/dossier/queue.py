"""The queue of writes waiting for the store, drained by the service and by `reperes sync`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.storage import (
    StorageError,
    Store,
)

from ..db import transaction
from ..models import (
    Evidence,
    PendingWrite,
    Task,
    utcnow,
)
from ..ops import ProgressFn
from ..ops.locks import Lease

if TYPE_CHECKING:
    from ..runtime import Runtime

from .photos import copy_photos
from .publication import (
    FAILED,
    LEASE_TTL,
    QUEUED,
    SUPERSEDED,
    WRITTEN,
    PublishOutcome,
    _lease,
    publish_dossier,
)
from .shares import _retry_shares

log = logging.getLogger(__name__)

# --- the queue ---------------------------------------------------------------------------------


@dataclass
class DrainReport:
    """What one pass over the queue did."""

    busy: bool = False
    due: int = 0
    written: int = 0
    still_queued: int = 0
    superseded: int = 0
    failed: int = 0
    photos: int = 0
    left: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.busy:
            return "another process is retrying the storage writes; nothing done"
        return (
            f"{self.due} due: {self.written} dossier(s) written, {self.photos} photo(s) "
            f"copied, {self.still_queued} still waiting, {self.superseded} replaced by a "
            f"newer version, {self.failed} failed; {self.left} in the queue"
        )


def drain_pending_writes(
    runtime: Runtime,
    *,
    store: Store | None = None,
    now: datetime | None = None,
    include_not_due: bool = False,
    limit: int = 500,
    progress: ProgressFn | None = None,
) -> DrainReport:
    """Try again the writes that are due (`reperes storage retry`, and the background sync).

    ``progress`` is told the writes tried, dossiers written and photos copied after each."""
    store = store if store is not None else runtime.store
    report = DrainReport()
    lease = Lease(runtime.engine, "storage-retry", ttl=LEASE_TTL)
    if not lease.acquire():
        report.busy = True
        return report
    lease.start_keeper()
    try:
        moment = now or utcnow()
        with transaction(runtime.sessions) as session:
            stmt = select(PendingWrite.id, PendingWrite.dossier_id, PendingWrite.evidence_id)
            if not include_not_due:
                stmt = stmt.where(PendingWrite.next_attempt_at <= moment)
            rows = session.execute(
                stmt.order_by(PendingWrite.next_attempt_at, PendingWrite.id).limit(limit)
            ).all()
        report.due = len(rows)
        photo_parcours: set[int] = set()
        for number, (row_id, dossier_id, evidence_id) in enumerate(rows):
            if progress is not None:
                progress({"écritures": (number, report.due), "dossiers écrits": report.written,
                          "photos": report.photos}, number / report.due)
            try:
                if dossier_id is not None:
                    outcome = publish_dossier(runtime, dossier_id, store=store, wait_seconds=0,
                                              now=now)
                    _count(report, outcome)
                elif evidence_id is not None:
                    with transaction(runtime.sessions) as session:
                        parcours_id = session.scalar(
                            select(Task.parcours_id).join(Evidence, Evidence.task_id == Task.id)
                            .where(Evidence.id == evidence_id)
                        )
                    if parcours_id is not None and parcours_id not in photo_parcours:
                        photo_parcours.add(parcours_id)
                        report.photos += _copy_photos_leased(runtime, parcours_id, store, now,
                                                             report)
            except Exception as error:  # one bad row never stops the others
                log.exception("pending write %s failed unexpectedly", row_id)
                report.errors.append(f"pending write {row_id}: {type(error).__name__}")
        with transaction(runtime.sessions) as session:
            report.left = len(session.scalars(select(PendingWrite.id)).all())
        # Shares that failed before (a user unknown then, the server down) are tried again.
        _retry_shares(runtime, store)
    finally:
        lease.release()
    return report


def _count(report: DrainReport, outcome: PublishOutcome) -> None:
    if outcome.state == WRITTEN:
        report.written += 1
        report.photos += outcome.photos_written
    elif outcome.state == SUPERSEDED:
        report.superseded += 1
    elif outcome.state == FAILED:
        report.failed += 1
        report.errors.append(f"dossier {outcome.dossier_id}: {outcome.error}")
    elif outcome.state == QUEUED:
        report.still_queued += 1
        if outcome.error:
            report.errors.append(f"dossier {outcome.dossier_id}: {outcome.error}")


def _copy_photos_leased(
    runtime: Runtime, parcours_id: int, store: Store, now: datetime | None,
    report: DrainReport,
) -> int:
    lease = _lease(runtime, parcours_id)
    if not lease.acquire():
        return 0
    try:
        return copy_photos(runtime, parcours_id, store=store, now=now)
    except StorageError as error:  # pragma: no cover - copy_photos queues its own failures
        report.errors.append(f"photos of parcours {parcours_id}: {error}")
        return 0
    finally:
        lease.release()


def pending_writes(session: Session) -> Sequence[PendingWrite]:
    """Every write waiting in the queue, the next due first (for operators)."""
    return list(session.scalars(
        select(PendingWrite).order_by(PendingWrite.next_attempt_at, PendingWrite.id)
    ))
