"""What a sync run did: its report, its row in sync_run, and `reperes sync`'s exit codes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from ..db import transaction
from ..models import (
    SyncRun,
    utcnow,
)

log = logging.getLogger(__name__)



#: Errors kept on a run row; the summary counts them all.
MAX_STORED_ERRORS = 100
#: Runs kept per platform (about three days of a sync every 15 minutes).
RUNS_KEPT = 300
#: Exit codes of ``reperes sync``.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PARTIAL = 3
EXIT_BUSY = 75  # EX_TEMPFAIL: another run holds the lock; try again later

# --------------------------------------------------------------------------- reports


@dataclass
class RunReport:
    """What one run did on one platform (stored as a SyncRun)."""

    platform_id: int
    trigger: str
    run_id: int | None = None
    state: str = "running"
    courses: int = 0
    courses_skipped: int = 0
    courses_ok: int = 0
    people: int = 0
    people_unknown: int = 0
    parcours_created: int = 0
    tasks_created: int = 0
    tasks_updated: int = 0
    tags_added: int = 0
    evidence_added: int = 0
    calls: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    error_count: int = 0

    def error(self, message: str) -> None:
        self.error_count += 1
        log.warning("sync: %s", message)
        if len(self.errors) < MAX_STORED_ERRORS:
            self.errors.append(message)

    def add(self, other: WriteResult) -> None:
        self.parcours_created += other.parcours_created
        self.tasks_created += other.tasks_created
        self.tasks_updated += other.tasks_updated
        self.tags_added += other.tags_added
        self.evidence_added += other.evidence_added

    @property
    def wrote(self) -> bool:
        return bool(
            self.parcours_created
            or self.tasks_created
            or self.tasks_updated
            or self.tags_added
            or self.evidence_added
        )

    def finish(self) -> None:
        if not self.error_count:
            self.state = "ok"
        elif self.courses_ok == 0 and not self.wrote:
            self.state = "failed"
        else:
            self.state = "partial"

    def summary(self) -> dict[str, Any]:
        return {
            "courses": self.courses,
            "courses_skipped": self.courses_skipped,
            "people": self.people,
            "people_unknown": self.people_unknown,
            "parcours_created": self.parcours_created,
            "tasks_created": self.tasks_created,
            "tasks_updated": self.tasks_updated,
            "tags_added": self.tags_added,
            "evidence_added": self.evidence_added,
            "calls": self.calls,
            "errors": self.error_count,
            "seconds": round(self.seconds, 2),
        }

    def line(self) -> str:
        """One line for an operator."""
        s = self.summary()
        return (
            f"platform {self.platform_id}: {self.state}; {s['courses']} course(s), "
            f"{s['people']} people ({s['people_unknown']} unknown to Repères), "
            f"{s['tasks_created']} task(s) created, {s['tasks_updated']} updated, "
            f"{s['tags_added']} tag(s) added, {s['parcours_created']} parcours created, "
            f"{s['calls']} Moodle call(s), {s['errors']} error(s), {s['seconds']} s"
        )


@dataclass
class WriteResult:
    parcours_created: int = 0
    tasks_created: int = 0
    tasks_updated: int = 0
    tags_added: int = 0
    evidence_added: int = 0


def _start_run(sessions: sessionmaker[Session], platform_id: int, trigger: str) -> int:
    with transaction(sessions) as session:
        run = SyncRun(platform_id=platform_id, trigger=trigger, state="running")
        session.add(run)
        session.flush()
        return int(run.id)


def _finish_run(sessions: sessionmaker[Session], report: RunReport) -> None:
    with transaction(sessions) as session:
        run = session.get(SyncRun, report.run_id) if report.run_id else None
        if run is None:
            run = SyncRun(platform_id=report.platform_id, trigger=report.trigger)
            session.add(run)
        run.finished_at = utcnow()
        run.state = report.state
        run.summary = report.summary()
        errors = list(report.errors)
        if report.error_count > len(errors):
            errors.append(f"… et {report.error_count - len(errors)} autre(s) erreur(s)")
        run.errors = errors
        session.flush()
        report.run_id = run.id
        _prune_runs(session, report.platform_id)


def _prune_runs(session: Session, platform_id: int) -> None:
    """Forget all but the last RUNS_KEPT runs of a platform (a timer adds one each round)."""
    keep = max(1, RUNS_KEPT)
    oldest_kept = session.scalar(
        select(SyncRun.id)
        .where(SyncRun.platform_id == platform_id)
        .order_by(SyncRun.id.desc())
        .offset(keep - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        session.execute(
            delete(SyncRun).where(SyncRun.platform_id == platform_id, SyncRun.id < oldest_kept)
        )


def exit_code(reports: Sequence[RunReport]) -> int:
    """``reperes sync``'s exit status for these reports."""
    states = {r.state for r in reports}
    if not states or states == {"ok"}:
        return EXIT_OK
    if states == {"failed"}:
        return EXIT_FAILED
    return EXIT_PARTIAL

