"""Moodle completions become tasks with their evidence, tagged to the mapped compétences.

For each course of a platform with a Moodle connection and at least one mapped module
(see ``integration.moodle.mapping``), a run reads the enrolled users (paged), matches them to
people of Repères, asks Moodle for each one's completions (a few requests in flight;
database writes stay in the calling thread) and, for each completed mapped module,
makes a task of source ``moodle`` with its evidence (« Module terminé le … ») and tags.

Decisions (what a reader of this code must know):

- **Who is synced.** Only people Repères already knows (from a launch, or names and
  roles). Repères never creates a person who has not opened it: the parcours is
  voluntary. Their completions arrive at their first launch (``refresh_person_async``).
  A Moodle user is matched by Moodle user id (Moodle's LTI ``sub``) first, then by
  username and/or email as ``Platform.moodle_match`` says (``id``, ``username``,
  ``email``, ``username,email``); an ambiguous match is skipped and reported.
- **Who gets a parcours.** A known person without a parcours in the course gets one
  (status en préparation, with the course's référentiel when it offers exactly one)
  when Moodle enrols them as ``student`` or they launched as candidat, and only when a
  completed mapped module gives it something to hold. Never someone who is
  accompagnateur or coordinateur in the course.
- **Idempotent, check before writing.** A run first reads what is stored and writes
  only what differs: a second run with nothing new writes no row.
- **Nothing lost.** A module marked incomplete again keeps its task, shown with
  ``moodle_completed=False``. What the person wrote or added (title, description,
  dates, evidence, tags) is never changed or removed; a tag the person removed is not
  put back; a task the person removed stays removed. A link added to the mapping later
  adds the missing tags on the next run; a link removed from the mapping removes no tag.
  Only confirmed links count: a Moodle proposal a person refused tags nothing.
- **Versions.** A tag is made against the version of the référentiel the parcours
  chose; when the parcours has not chosen that référentiel, against the mapping's.
- **Failures.** A failing course or person is recorded in the run's errors and the
  others go on (state ``partial``); the next run catches up.
- **One run at a time.** ``run_sync`` holds the database lease ``moodle-sync``
  (``integration.ops.locks``) for the whole run; a second run refuses with ``LockBusy``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import requests
from sqlalchemy import ColumnElement, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from connectors.moodle import (
    ActivitiesCompletion,
    MoodleClient,
    MoodleError,
    MoodleTokenError,
    MoodleUser,
)
from connectors.outbound import OutboundSession
from docx_templates.context import date_fr
from referentiels import Catalog

from ..db import Base, transaction
from ..models import (
    MAPPING_CONFIRMED,
    ActivityMapping,
    Course,
    Evidence,
    EvidenceKind,
    HistoryEntry,
    Membership,
    Parcours,
    ParcoursReferentiel,
    ParcoursStatus,
    Person,
    Platform,
    Role,
    SyncRun,
    Tag,
    Task,
    TaskSource,
    utcnow,
)
from ..ops.locks import DEFAULT_TTL, Lease, LockBusy, read_lease
from ..parcours.catalog import EVERY_PLATFORM, load_catalog
from ..parcours.items import find_item
from ..platform_settings import DEFAULT_TIMEZONE, zone_named
from ..settings import parse_interval
from .connection import (
    ClientFactory,
    default_client_factory,
    has_connection,
    match_fields,
    moodle_course_id,
    moodle_token,
)
from .mapping import Address, address_text, course_offer, parse_address_text

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_WORKERS",
    "EXIT_BUSY",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "LOCK_NAME",
    "BackgroundSync",
    "LockBusy",
    "RunReport",
    "completion_caption",
    "parse_interval",
    "plan_person",
    "refresh_person",
    "refresh_person_async",
    "run_sync",
    "start_background_sync",
    "sync_completions",
]

LOCK_NAME = "moodle-sync"
DEFAULT_WORKERS = 4
#: Enrolled users per ``core_enrol_get_enrolled_users`` call.
PAGE_SIZE = 200
#: What the enrolled-users answers carry: just enough to match people and read roles.
USERFIELDS = "id,username,email,fullname,firstname,lastname,roles"
#: Errors kept on a run row; the summary counts them all.
MAX_STORED_ERRORS = 100
#: Runs kept per platform (about three days of a sync every 15 minutes).
RUNS_KEPT = 300
EVIDENCE_KIND = EvidenceKind.MOODLE

#: Exit codes of ``reperes sync``.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PARTIAL = 3
EXIT_BUSY = 75  # EX_TEMPFAIL: another run holds the lock; try again later

# The structure's calendar when none is given (a platform's own: PlatformSettings.zone).
LOCAL_TZ = zone_named(DEFAULT_TIMEZONE)

T = TypeVar("T")
R = TypeVar("R")


# --------------------------------------------------------------------------- intervals

# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class MappedModule:
    """A module of the course with the compétences it is mapped to."""

    cmid: int
    name: str
    addresses: tuple[Address, ...]


@dataclass(frozen=True)
class Completion:
    """What Moodle says of one module for one person."""

    complete: bool
    completed_at: datetime | None


@dataclass
class EvidenceState:
    id: int
    caption: str
    deleted: bool


@dataclass
class TaskState:
    """A stored Moodle task, as the plan needs it."""

    id: int
    cmid: int
    deleted: bool
    completed: bool | None
    completed_at: datetime | None
    ended_on: date | None
    tags: set[Address] = field(default_factory=set)
    evidence: list[EvidenceState] = field(default_factory=list)


@dataclass
class ParcoursState:
    """One parcours as stored: chosen référentiel versions and Moodle tasks by cmid."""

    id: int | None
    person_id: int
    chosen: dict[str, str] = field(default_factory=dict)
    tasks: dict[int, TaskState] = field(default_factory=dict)
    removed_tags: set[tuple[int, Address]] = field(default_factory=set)


@dataclass(frozen=True)
class NewTask:
    cmid: int
    title: str
    completed_at: datetime | None
    tags: tuple[Address, ...]


@dataclass
class TaskChange:
    """What to change on one stored task; ``None`` fields stay as they are."""

    task_id: int
    cmid: int
    completed: bool | None = None
    completed_at: datetime | None = None
    ended_on: date | None = None
    captions: list[tuple[int, str]] = field(default_factory=list)
    add_evidence: str | None = None
    add_tags: list[Address] = field(default_factory=list)

    @property
    def changes_task_row(self) -> bool:
        return self.completed is not None or self.ended_on is not None

    @property
    def empty(self) -> bool:
        return not (
            self.changes_task_row or self.captions or self.add_evidence or self.add_tags
        )


@dataclass
class PersonPlan:
    new_tasks: list[NewTask] = field(default_factory=list)
    changes: list[TaskChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.new_tasks and not self.changes


def local_date(moment: datetime | None, zone: tzinfo = LOCAL_TZ) -> date | None:
    return None if moment is None else moment.astimezone(zone).date()


def completion_caption(moment: datetime | None, zone: tzinfo = LOCAL_TZ) -> str:
    """« Module terminé le 3 mars 2026 » (the evidence's words)."""
    day = local_date(moment, zone)
    return "Module terminé" if day is None else f"Module terminé le {date_fr(day)}"


def wanted_tags(
    addresses: Iterable[Address],
    chosen: Mapping[str, str],
    has_code: Callable[[str, str, str], bool],
) -> list[Address]:
    """The mapped compétences, in the version of the référentiel the parcours chose."""
    out: list[Address] = []
    for ref_id, version, code in addresses:
        target = chosen.get(ref_id, version)
        if target != version and not has_code(ref_id, target, code):
            continue  # the chosen version has no such compétence
        address = (ref_id, target, code)
        if address not in out:
            out.append(address)
    return out


def plan_person(
    state: ParcoursState,
    modules: Mapping[int, MappedModule],
    completions: Mapping[int, Completion],
    has_code: Callable[[str, str, str], bool],
) -> PersonPlan:
    """What to write for one person so that stored tasks match Moodle (pure function).

    ``completions`` holds the modules Moodle reported for a tracked person; a module
    it did not report (deleted, completion turned off) leaves its task as it is.
    """
    plan = PersonPlan()
    for cmid, module in modules.items():
        completion = completions.get(cmid)
        tags = wanted_tags(module.addresses, state.chosen, has_code)
        task = state.tasks.get(cmid)
        if task is None:
            if completion is not None and completion.complete:
                plan.new_tasks.append(
                    NewTask(cmid, module.name, completion.completed_at, tuple(tags))
                )
            continue
        if task.deleted:
            continue  # removed by the person: left alone
        change = TaskChange(task.id, cmid)
        if completion is not None and completion.complete:
            if task.completed is not True or task.completed_at != completion.completed_at:
                change.completed = True
                change.completed_at = completion.completed_at
                old_day, new_day = local_date(task.completed_at), local_date(
                    completion.completed_at
                )
                if task.ended_on in (None, old_day) and task.ended_on != new_day:
                    change.ended_on = new_day
                old_caption = completion_caption(task.completed_at)
                new_caption = completion_caption(completion.completed_at)
                for evidence in task.evidence:
                    if (
                        not evidence.deleted
                        and evidence.caption == old_caption
                        and old_caption != new_caption
                    ):
                        change.captions.append((evidence.id, new_caption))
            if not task.evidence:
                change.add_evidence = completion_caption(completion.completed_at)
        elif completion is not None and task.completed is not False:
            change.completed = False
        change.add_tags = [
            a for a in tags if a not in task.tags and (task.id, a) not in state.removed_tags
        ]
        if not change.empty:
            plan.changes.append(change)
    return plan


# --------------------------------------------------------------------------- reading


def load_modules(session: Session, course_id: int) -> dict[int, MappedModule]:
    """The mapped modules of a course: their confirmed links."""
    names: dict[int, str] = {}
    addresses: dict[int, list[Address]] = {}
    rows = session.execute(
        select(
            ActivityMapping.moodle_cmid,
            ActivityMapping.module_name,
            ActivityMapping.referentiel_id,
            ActivityMapping.referentiel_version,
            ActivityMapping.competence_code,
        )
        .where(
            ActivityMapping.course_id == course_id,
            ActivityMapping.status == MAPPING_CONFIRMED,
        )
        .order_by(ActivityMapping.moodle_cmid, ActivityMapping.id)
    )
    for cmid, name, ref_id, version, code in rows:
        if name and not names.get(cmid):
            names[cmid] = name
        addresses.setdefault(cmid, []).append((ref_id, version, code))
    return {
        cmid: MappedModule(cmid, names.get(cmid) or f"Module Moodle {cmid}", tuple(found))
        for cmid, found in addresses.items()
    }


def load_states(
    session: Session, *, course_id: int | None = None, parcours_id: int | None = None
) -> dict[int, ParcoursState]:
    """The parcours of a course (or one parcours) with their Moodle tasks, by person id."""
    where: ColumnElement[bool]
    if parcours_id is not None:
        where = Parcours.id == parcours_id
    elif course_id is not None:
        where = Parcours.course_id == course_id
    else:
        raise ValueError("give a course or a parcours")
    by_id: dict[int, ParcoursState] = {}
    for pid, person_id in session.execute(select(Parcours.id, Parcours.person_id).where(where)):
        by_id[pid] = ParcoursState(id=pid, person_id=person_id)
    if not by_id:
        return {}
    for pid, ref_id, version in session.execute(
        select(
            ParcoursReferentiel.parcours_id,
            ParcoursReferentiel.referentiel_id,
            ParcoursReferentiel.referentiel_version,
        )
        .join(Parcours, Parcours.id == ParcoursReferentiel.parcours_id)
        .where(where)
    ):
        by_id[pid].chosen[ref_id] = version
    tasks: dict[int, TaskState] = {}
    for row in session.execute(
        select(
            Task.id,
            Task.parcours_id,
            Task.moodle_cmid,
            Task.deleted_at,
            Task.moodle_completed,
            Task.moodle_completed_at,
            Task.ended_on,
        )
        .join(Parcours, Parcours.id == Task.parcours_id)
        .where(where, Task.moodle_cmid.is_not(None))
    ):
        task = TaskState(
            id=row.id,
            cmid=row.moodle_cmid,
            deleted=row.deleted_at is not None,
            completed=row.moodle_completed,
            completed_at=_aware(row.moodle_completed_at),
            ended_on=row.ended_on,
        )
        tasks[task.id] = task
        by_id[row.parcours_id].tasks[task.cmid] = task
    if tasks:
        for task_id, ref_id, version, code in session.execute(
            select(Tag.task_id, Tag.referentiel_id, Tag.referentiel_version, Tag.competence_code)
            .join(Task, Task.id == Tag.task_id)
            .join(Parcours, Parcours.id == Task.parcours_id)
            .where(where, Task.moodle_cmid.is_not(None))
        ):
            tasks[task_id].tags.add((ref_id, version, code))
        for ev_id, task_id, caption, deleted_at in session.execute(
            select(Evidence.id, Evidence.task_id, Evidence.caption, Evidence.deleted_at)
            .join(Task, Task.id == Evidence.task_id)
            .join(Parcours, Parcours.id == Task.parcours_id)
            .where(where, Task.moodle_cmid.is_not(None), Evidence.kind == EVIDENCE_KIND)
            .order_by(Evidence.id)
        ):
            tasks[task_id].evidence.append(
                EvidenceState(ev_id, caption or "", deleted_at is not None)
            )
        # A tag the person removed by hand is not put back: the history remembers it.
        for pid, detail in session.execute(
            select(HistoryEntry.parcours_id, HistoryEntry.detail)
            .join(Parcours, Parcours.id == HistoryEntry.parcours_id)
            .where(where, HistoryEntry.action == "tag.removed")
        ):
            if not isinstance(detail, dict):
                continue
            address = parse_address_text(str(detail.get("address", "")))
            removed_from = detail.get("task_id")
            if address is not None and isinstance(removed_from, int):
                by_id[pid].removed_tags.add((removed_from, address))
    return {state.person_id: state for state in by_id.values()}


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def completions_from(
    answer: ActivitiesCompletion, modules: Mapping[int, MappedModule]
) -> dict[int, Completion]:
    """The mapped modules Moodle reported, for a person it tracks (else nothing)."""
    found: dict[int, Completion] = {}
    for status in answer.statuses:
        if status.cmid not in modules or status.istrackeduser is False:
            continue
        complete = status.is_complete
        when = (
            datetime.fromtimestamp(status.timecompleted, UTC)
            if complete and status.timecompleted > 0
            else None
        )
        found[status.cmid] = Completion(complete, when)
    return found


# --------------------------------------------------------------------------- people


class PersonIndex:
    """People of one platform, found by Moodle user id (``sub``), username or email."""

    def __init__(
        self, rows: Iterable[tuple[int, str, str, str]], fields: Sequence[str]
    ) -> None:
        self.fields = tuple(fields)
        self._by: dict[str, dict[str, list[int]]] = {"sub": {}, "username": {}, "email": {}}
        for person_id, sub, username, email in rows:
            self._by["sub"].setdefault(str(sub), []).append(person_id)
            if username:
                self._by["username"].setdefault(username.strip().casefold(), []).append(
                    person_id
                )
            if email:
                self._by["email"].setdefault(email.strip().casefold(), []).append(person_id)

    @classmethod
    def load(cls, session: Session, platform: Platform) -> PersonIndex:
        rows = session.execute(
            select(Person.id, Person.sub, Person.username, Person.email).where(
                Person.platform_id == platform.id
            )
        )
        return cls(
            [(r.id, r.sub, r.username or "", r.email or "") for r in rows],
            match_fields(platform.moodle_match),
        )

    def match(self, user: MoodleUser) -> tuple[int | None, str]:
        """(person id, how) — ``how`` is "id", "username", "email", "ambiguous" or ""."""
        found = self._by["sub"].get(str(user.id), [])
        if len(found) == 1:
            return found[0], "id"
        for name in self.fields:
            value = getattr(user, name, None)
            if not value:
                continue
            found = self._by[name].get(str(value).strip().casefold(), [])
            if len(found) == 1:
                return found[0], name
            if len(found) > 1:
                return None, "ambiguous"
        return None, ""


@dataclass(frozen=True)
class MembershipInfo:
    role: Role
    launched: bool


def may_get_parcours(membership: MembershipInfo | None, moodle_roles: Iterable[str]) -> bool:
    """A person without a parcours gets one when enrolled as student or launched as
    candidat; never when they accompany in this course."""
    if membership is not None and membership.role in (Role.ACCOMPAGNATEUR, Role.COORDINATEUR):
        return False
    if "student" in set(moodle_roles):
        return True
    return membership is not None and membership.role is Role.CANDIDAT and membership.launched


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


# --------------------------------------------------------------------------- Moodle clients


class _Clients:
    """One Moodle client per thread for one platform, counting the HTTP answers."""

    def __init__(self, url: str, token: str, factory: ClientFactory | None) -> None:
        self._url = url
        self._token = token
        self._factory = factory or default_client_factory
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []
        self.calls = 0

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self.calls += 1

    def get(self) -> MoodleClient:
        client: MoodleClient | None = getattr(self._local, "client", None)
        if client is None:
            http = OutboundSession()  # the outbound policy: REPERES_OUTBOUND_ALLOW
            http.hooks["response"].append(self._count)
            client = self._factory(self._url, self._token, http)
            self._local.client = client
            with self._lock:
                self._sessions.append(http)
        return client

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for http in sessions:
            http.close()


class _InFlight(Generic[T, R]):
    """Run ``fn`` on the pool with at most ``window`` calls pending; iterate to get
    ``(item, result or exception)`` as each finishes. The first calls leave at once, so
    the caller can read the database while Moodle answers."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        fn: Callable[[T], R],
        items: Iterable[T],
        window: int,
        stop: Callable[[], bool],
    ) -> None:
        self._pool = pool
        self._fn = fn
        self._source = iter(items)
        self._window = max(1, window)
        self._stop = stop
        self._pending: dict[Future[R], T] = {}
        self._fill()

    def _fill(self) -> None:
        while len(self._pending) < self._window and not self._stop():
            try:
                item = next(self._source)
            except StopIteration:
                return
            self._pending[self._pool.submit(self._fn, item)] = item

    def __iter__(self) -> Iterator[tuple[T, R | BaseException]]:
        try:
            while self._pending:
                done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = self._pending.pop(future)
                    error = future.exception()
                    yield item, (error if error is not None else future.result())
                self._fill()
        finally:
            self.cancel()

    def cancel(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class CourseInfo:
    id: int
    platform_id: int
    title: str
    moodle_id: int | None
    default_ref: tuple[str, str] | None  # the course's référentiel when it offers one


class _Codes:
    """Whether a compétence code exists in a référentiel version (for tag versions).

    The catalog is read with a session the caller already has open: on SQLite every
    transaction takes the write lock, so a second session in the same thread would wait
    for the first.
    """

    def __init__(self) -> None:
        self._catalog: Catalog | None = None
        self._cache: dict[Address, bool] = {}

    def load(self, session: Session) -> Catalog:
        if self._catalog is None:
            # Every platform's: a platform's own ids carry its prefix, so none collide.
            self._catalog = load_catalog(session, platform_id=EVERY_PLATFORM)
        return self._catalog

    def __call__(self, ref_id: str, version: str, code: str) -> bool:
        if self._catalog is None:
            raise RuntimeError("load the catalog first")
        key = (ref_id, version, code)
        if key not in self._cache:
            ref = self._catalog.find(ref_id, version)
            self._cache[key] = ref is not None and find_item(ref, code) is not None
        return self._cache[key]


def _course_info(session: Session, course: Course, codes: _Codes) -> CourseInfo:
    offer = course_offer(course, codes.load(session))
    # Like a first launch: a course offering exactly one référentiel starts parcours with it.
    default_ref = (
        offer.referentiels[0].key
        if len(course.referentiels or []) == 1 and offer.referentiels
        else None
    )
    return CourseInfo(
        id=course.id,
        platform_id=course.platform_id,
        title=course.title or course.label or f"cours {course.id}",
        moodle_id=moodle_course_id(course),
        default_ref=default_ref,
    )


def _history(
    session: Session, parcours_id: int, action: str, **detail: Any
) -> None:
    # No actor: the sync writes these lines; `source` says so to a reader of the history.
    session.add(
        HistoryEntry(
            parcours_id=parcours_id, actor_id=None, action=action,
            detail={**detail, "source": "moodle"},
        )
    )


def write_person(
    session: Session,
    course: CourseInfo,
    person_id: int,
    modules: Mapping[int, MappedModule],
    completions: Mapping[int, Completion],
    has_code: Callable[[str, str, str], bool],
) -> WriteResult:
    """Bring one person's Moodle tasks in line with Moodle, in the caller's transaction.

    Reads what is stored first and writes only the differences.
    """
    result = WriteResult()
    stored = load_state_of_person(session, course.id, person_id)
    state = stored or ParcoursState(
        id=None,
        person_id=person_id,
        chosen=dict([course.default_ref]) if course.default_ref else {},
    )
    plan = plan_person(state, modules, completions, has_code)
    if plan.empty:
        return result
    parcours_id = state.id
    if parcours_id is None:
        parcours_id = _create_parcours(session, course, person_id)
        result.parcours_created = 1

    if plan.new_tasks:
        _insert_tasks(session, parcours_id, plan.new_tasks, result)

    for change in plan.changes:
        _apply_change(session, parcours_id, change, result)
    session.flush()
    return result


def _table(model: type[Base]) -> Table:
    """The model's table, for bulk statements (fewer objects than the ORM's unit of work)."""
    return Base.metadata.tables[model.__tablename__]


def _create_parcours(session: Session, course: CourseInfo, person_id: int) -> int:
    """A new parcours, en préparation, with the course's référentiel when it offers one.

    A parcours made meanwhile by a launch makes the INSERT fail (unique course and
    person): the caller reads again and tries once more.
    """
    now = utcnow()
    table = _table(Parcours)
    parcours_id: int = session.execute(
        insert(table).returning(table.c.id),
        {
            "person_id": person_id,
            "course_id": course.id,
            "status": ParcoursStatus.EN_PREPARATION,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        },
    ).scalar_one()
    if course.default_ref is not None:
        session.execute(
            insert(_table(ParcoursReferentiel)),
            {
                "parcours_id": parcours_id,
                "referentiel_id": course.default_ref[0],
                "referentiel_version": course.default_ref[1],
            },
        )
    session.execute(
        insert(_table(HistoryEntry)),
        {"parcours_id": parcours_id, "actor_id": None, "action": "parcours.created", "at": now,
         "detail": {"source": "moodle"}},
    )
    return parcours_id


def _insert_tasks(
    session: Session, parcours_id: int, new_tasks: Sequence[NewTask], result: WriteResult
) -> None:
    """Insert new tasks with their evidence, tags and history lines, a few statements in
    all (bulk INSERT … RETURNING): the first run on a large course writes many of them."""
    now = utcnow()
    returned = session.execute(
        insert(_table(Task)).returning(_table(Task).c.id, _table(Task).c.moodle_cmid),
        [
            {
                "parcours_id": parcours_id,
                "title": new.title[:300],
                "source": TaskSource.MOODLE,
                "moodle_cmid": new.cmid,
                "moodle_completed": True,
                "moodle_completed_at": new.completed_at,
                "ended_on": local_date(new.completed_at),
                "created_by_id": None,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
            for new in new_tasks
        ],
    ).all()
    task_ids = {cmid: task_id for task_id, cmid in returned}
    evidence_rows: list[dict[str, Any]] = []
    tag_rows: list[dict[str, Any]] = []
    history_rows: list[dict[str, Any]] = []
    for new in new_tasks:
        task_id = task_ids[new.cmid]
        evidence_rows.append(
            {"task_id": task_id, "kind": EVIDENCE_KIND,
             "caption": completion_caption(new.completed_at), "created_at": now}
        )
        tag_rows.extend(
            {"task_id": task_id, "referentiel_id": ref_id, "referentiel_version": version,
             "competence_code": code, "created_at": now, "updated_at": now}
            for ref_id, version, code in new.tags
        )
        history_rows.append(
            {"parcours_id": parcours_id, "actor_id": None, "action": "task.created", "at": now,
             "detail": {"task_id": task_id, "title": new.title[:300], "cmid": new.cmid,
                        "tags": [address_text(a) for a in new.tags], "source": "moodle"}}
        )
        result.tasks_created += 1
        result.evidence_added += 1
        result.tags_added += len(new.tags)
    session.execute(insert(_table(Evidence)), evidence_rows)
    if tag_rows:
        session.execute(insert(_table(Tag)), tag_rows)
    session.execute(insert(_table(HistoryEntry)), history_rows)


def load_state_of_person(
    session: Session, course_id: int, person_id: int
) -> ParcoursState | None:
    parcours_id = session.scalar(
        select(Parcours.id).where(Parcours.course_id == course_id, Parcours.person_id == person_id)
    )
    if parcours_id is None:
        return None
    return load_states(session, parcours_id=parcours_id).get(person_id)


def _apply_change(
    session: Session, parcours_id: int, change: TaskChange, result: WriteResult
) -> None:
    if change.changes_task_row:
        task = session.get(Task, change.task_id)
        if task is None:
            return
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        if change.completed is not None and task.moodle_completed != change.completed:
            old["moodle_completed"], new["moodle_completed"] = (
                task.moodle_completed,
                change.completed,
            )
            task.moodle_completed = change.completed
        if change.completed and change.completed_at != _aware(task.moodle_completed_at):
            old["moodle_completed_at"] = _iso(task.moodle_completed_at)
            new["moodle_completed_at"] = _iso(change.completed_at)
            task.moodle_completed_at = change.completed_at
        if change.ended_on is not None and task.ended_on != change.ended_on:
            old["ended_on"], new["ended_on"] = _iso(task.ended_on), _iso(change.ended_on)
            task.ended_on = change.ended_on
        if new:
            _history(
                session, parcours_id, "task.updated", task_id=task.id, old=_plain(old),
                new=_plain(new),
            )
            result.tasks_updated += 1
    for evidence_id, caption in change.captions:
        evidence = session.get(Evidence, evidence_id)
        if evidence is not None and evidence.caption != caption:
            evidence.caption = caption
    if change.add_evidence is not None:
        evidence = Evidence(
            task_id=change.task_id, kind=EVIDENCE_KIND, caption=change.add_evidence
        )
        session.add(evidence)
        session.flush()
        _history(
            session, parcours_id, "evidence.added", task_id=change.task_id,
            evidence_id=evidence.id, kind=EVIDENCE_KIND,
        )
        result.evidence_added += 1
    for ref_id, version, code in change.add_tags:
        session.add(
            Tag(
                task_id=change.task_id,
                referentiel_id=ref_id,
                referentiel_version=version,
                competence_code=code,
            )
        )
        _history(
            session, parcours_id, "tag.added", task_id=change.task_id,
            address=address_text((ref_id, version, code)), comment="",
        )
        result.tags_added += 1


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (_iso(v) if isinstance(v, (date, datetime)) else v) for k, v in values.items()}


def _write_with_retry(
    sessions: sessionmaker[Session],
    course: CourseInfo,
    person_id: int,
    modules: Mapping[int, MappedModule],
    completions: Mapping[int, Completion],
    has_code: Callable[[str, str, str], bool],
) -> WriteResult:
    """One transaction per person. Someone writing the same rows meanwhile (the person,
    a launch's refresh) makes it read again and try once more."""
    for attempt in (1, 2):
        try:
            with transaction(sessions) as session:
                return write_person(session, course, person_id, modules, completions, has_code)
        except (IntegrityError, StaleDataError):
            if attempt == 2:
                raise
            log.info("sync: person %s changed meanwhile; reading again", person_id)
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class _Target:
    person_id: int
    moodle_userid: int


def sync_completions(
    sessions: sessionmaker[Session],
    *,
    trigger: str = "cli",
    platforms: Sequence[int] | None = None,
    courses: Sequence[int] | None = None,
    client_factory: ClientFactory | None = None,
    workers: int = DEFAULT_WORKERS,
    should_stop: Callable[[], bool] | None = None,
) -> list[RunReport]:
    """Run the sync once for every platform with a Moodle connection (or those given).

    Takes no lock: ``run_sync`` is the entry point that does. One SyncRun per platform.
    """
    stop = should_stop or (lambda: False)
    with sessions() as session:
        query = select(Platform.id).where(
            Platform.moodle_url.is_not(None), Platform.moodle_token.is_not(None)
        )
        if platforms is not None:
            query = query.where(Platform.id.in_(list(platforms)))
        platform_ids = list(session.scalars(query.order_by(Platform.id)))
    codes = _Codes()
    reports: list[RunReport] = []
    for platform_id in platform_ids:
        if stop():
            break
        reports.append(
            _sync_platform(
                sessions, platform_id, trigger=trigger, courses=courses,
                client_factory=client_factory, workers=workers, stop=stop, codes=codes,
            )
        )
    return reports


def _sync_platform(
    sessions: sessionmaker[Session],
    platform_id: int,
    *,
    trigger: str,
    courses: Sequence[int] | None,
    client_factory: ClientFactory | None,
    workers: int,
    stop: Callable[[], bool],
    codes: _Codes,
) -> RunReport:
    started = time.monotonic()
    report = RunReport(platform_id=platform_id, trigger=trigger)
    report.run_id = _start_run(sessions, platform_id, trigger)
    with sessions() as session:
        platform = session.get(Platform, platform_id)
        if platform is None or not has_connection(platform):
            report.error(f"la plateforme {platform_id} n’a plus de connexion Moodle")
            url = token = ""
        else:
            url, token = str(platform.moodle_url), moodle_token(platform)
        query = select(Course).where(Course.platform_id == platform_id)
        if courses is not None:
            query = query.where(Course.id.in_(list(courses)))
        course_rows = list(session.scalars(query.order_by(Course.id)))
        linked = {
            cid
            for cid in session.scalars(
                select(ActivityMapping.course_id).where(
                    ActivityMapping.course_id.in_([c.id for c in course_rows]),
                    ActivityMapping.status == MAPPING_CONFIRMED,
                )
            )
        }
        infos = [_course_info(session, c, codes) for c in course_rows if c.id in linked]
        report.courses_skipped = len(course_rows) - len(infos)
        index = PersonIndex.load(session, platform) if platform is not None else None
    clients = _Clients(url, token, client_factory) if url else None
    try:
        if clients is not None and index is not None:
            with ThreadPoolExecutor(
                max_workers=max(1, workers), thread_name_prefix="moodle-sync"
            ) as pool:
                for course in infos:
                    if stop():
                        report.error(
                            "arrêt demandé : les cours restants le seront au prochain passage"
                        )
                        break
                    try:
                        _sync_course(
                            sessions, clients, pool, course, index, report, codes, workers, stop
                        )
                    except MoodleTokenError as exc:
                        report.error(f"Moodle refuse la clé d’accès (token) : {exc}")
                        break
                    except MoodleError as exc:
                        report.error(f"cours {course.id} « {course.title} » : {exc}")
                    except Exception as exc:
                        log.exception("sync: course %s failed", course.id)
                        report.error(
                            f"cours {course.id} « {course.title} » : erreur inattendue "
                            f"({type(exc).__name__})"
                        )
    finally:
        if clients is not None:
            report.calls = clients.calls
            clients.close()
        report.seconds = time.monotonic() - started
        report.finish()
        _finish_run(sessions, report)
    log.info("sync: %s", report.line())
    return report


def _sync_course(
    sessions: sessionmaker[Session],
    clients: _Clients,
    pool: ThreadPoolExecutor,
    course: CourseInfo,
    index: PersonIndex,
    report: RunReport,
    codes: _Codes,
    workers: int,
    stop: Callable[[], bool],
) -> None:
    with sessions() as session:
        modules = load_modules(session, course.id)
    if not modules:
        report.courses_skipped += 1
        return
    report.courses += 1
    if course.moodle_id is None:
        report.error(
            f"cours {course.id} « {course.title} » : numéro de cours Moodle inconnu "
            "(ni moodle_course_id, ni identifiant de contexte numérique)"
        )
        return
    client = clients.get()
    users = list(
        client.iter_enrolled_users(
            course.moodle_id, {"userfields": USERFIELDS}, page_size=PAGE_SIZE
        )
    )
    report.courses_ok += 1

    with sessions() as session:
        followed = set(
            session.scalars(select(Parcours.person_id).where(Parcours.course_id == course.id))
        )
        memberships = {
            person_id: MembershipInfo(role, bool(launched))
            for person_id, role, launched in session.execute(
                select(Membership.person_id, Membership.role, Membership.launched).where(
                    Membership.course_id == course.id
                )
            )
        }

    targets: list[_Target] = []
    seen: set[int] = set()
    for user in users:
        person_id, how = index.match(user)
        if person_id is None:
            if how == "ambiguous":
                report.error(
                    f"cours {course.id} : l’utilisateur Moodle {user.id} correspond à plusieurs "
                    "personnes de Repères ; il est laissé de côté"
                )
            report.people_unknown += 1
            continue
        if person_id in seen:
            report.error(
                f"cours {course.id} : la personne {person_id} correspond à plusieurs "
                f"utilisateurs Moodle (dont {user.id}) ; un seul est pris"
            )
            continue
        seen.add(person_id)
        if person_id not in followed and not may_get_parcours(
            memberships.get(person_id), user.role_shortnames
        ):
            continue
        targets.append(_Target(person_id, user.id))

    moodle_id = course.moodle_id

    def fetch(target: _Target) -> ActivitiesCompletion:
        return clients.get().get_activities_completion_status(moodle_id, target.moodle_userid)

    fetches = _InFlight(pool, fetch, targets, max(1, workers) * 4, stop)
    try:
        # Read what is stored while the first answers come: only differences get written.
        with sessions() as session:
            states = load_states(session, course_id=course.id)
    except BaseException:
        fetches.cancel()
        raise
    for target, outcome in fetches:
        report.people += 1
        if isinstance(outcome, BaseException):
            if isinstance(outcome, MoodleTokenError):
                raise outcome
            report.error(
                f"cours {course.id}, personne {target.person_id} "
                f"(Moodle {target.moodle_userid}) : {_describe(outcome)}"
            )
            continue
        completions = completions_from(outcome, modules)
        snapshot = states.get(target.person_id)
        if snapshot is not None and plan_person(snapshot, modules, completions, codes).empty:
            continue  # nothing new: not even a transaction
        if snapshot is None and not any(c.complete for c in completions.values()):
            continue  # nothing to hold: no parcours to create
        try:
            result = _write_with_retry(
                sessions, course, target.person_id, modules, completions, codes
            )
        except Exception as exc:
            log.exception("sync: person %s in course %s failed", target.person_id, course.id)
            report.error(
                f"cours {course.id}, personne {target.person_id} : enregistrement impossible "
                f"({type(exc).__name__})"
            )
            continue
        report.add(result)
    if stop():
        report.error(f"cours {course.id} : arrêté avant la fin (verrou perdu ou arrêt demandé)")


def _describe(error: BaseException) -> str:
    if isinstance(error, MoodleError):
        return str(error)
    return f"erreur inattendue ({type(error).__name__})"


# --------------------------------------------------------------------------- entry points


def run_sync(
    runtime: Runtime,
    *,
    trigger: str = "cli",
    wait_seconds: float = 0.0,
    platforms: Sequence[int] | None = None,
    courses: Sequence[int] | None = None,
    client_factory: ClientFactory | None = None,
    workers: int = DEFAULT_WORKERS,
    lease_ttl: timedelta = DEFAULT_TTL,
    should_stop: Callable[[], bool] | None = None,
) -> list[RunReport]:
    """One full run under the database lease ``moodle-sync``.

    Raises LockBusy when another run holds the lease (after ``wait_seconds``). The lease
    is renewed during the run; if it is lost the run stops between two people.
    """
    lease = Lease(runtime.engine, LOCK_NAME, ttl=lease_ttl)
    if not lease.acquire_waiting(wait_seconds):
        raise LockBusy(LOCK_NAME, read_lease(runtime.engine, LOCK_NAME))
    lease.start_keeper()
    try:
        return sync_completions(
            runtime.sessions,
            trigger=trigger,
            platforms=platforms,
            courses=courses,
            client_factory=client_factory,
            workers=workers,
            should_stop=lambda: lease.lost.is_set() or bool(should_stop and should_stop()),
        )
    finally:
        lease.release()


def exit_code(reports: Sequence[RunReport]) -> int:
    """``reperes sync``'s exit status for these reports."""
    states = {r.state for r in reports}
    if not states or states == {"ok"}:
        return EXIT_OK
    if states == {"failed"}:
        return EXIT_FAILED
    return EXIT_PARTIAL


# ------------------------------------------------------------------ one person, at launch


def refresh_person(
    sessions: sessionmaker[Session],
    platform_id: int,
    course_id: int,
    person_id: int,
    *,
    client_factory: ClientFactory | None = None,
    trigger: str = "launch",
) -> RunReport | None:
    """Sync one person's completions in one course now. None when there is nothing to
    ask Moodle (no connection, no mapped module, not a person to follow).

    Records a SyncRun only when it wrote something or failed.
    """
    codes = _Codes()
    with sessions() as session:
        platform = session.get(Platform, platform_id)
        course = session.get(Course, course_id)
        person = session.get(Person, person_id)
        if (
            platform is None
            or course is None
            or person is None
            or course.platform_id != platform_id
            or person.platform_id != platform_id
            or not has_connection(platform)
        ):
            return None
        modules = load_modules(session, course_id)
        if not modules:
            return None
        info = _course_info(session, course, codes)
        membership = session.execute(
            select(Membership.role, Membership.launched).where(
                Membership.course_id == course_id, Membership.person_id == person_id
            )
        ).first()
        has_parcours = (
            session.scalar(
                select(Parcours.id).where(
                    Parcours.course_id == course_id, Parcours.person_id == person_id
                )
            )
            is not None
        )
        url, token = str(platform.moodle_url), moodle_token(platform)
        fields = match_fields(platform.moodle_match)
        sub, username, email = person.sub, person.username, person.email
    if info.moodle_id is None:
        return None
    if not has_parcours and membership is not None and membership.role in (
        Role.ACCOMPAGNATEUR,
        Role.COORDINATEUR,
    ):
        return None
    started = time.monotonic()
    report = RunReport(platform_id=platform_id, trigger=trigger)
    clients = _Clients(url, token, client_factory)
    try:
        client = clients.get()
        userid = _moodle_userid(client, sub, username, email, fields)
        if userid is None:
            return None
        answer = client.get_activities_completion_status(info.moodle_id, userid)
        completions = completions_from(answer, modules)
        if not completions:
            return None  # not tracked in this course: not a student there
        report.people = report.courses = report.courses_ok = 1
        report.add(_write_with_retry(sessions, info, person_id, modules, completions, codes))
    except Exception as exc:
        if not isinstance(exc, MoodleError):
            log.exception("sync: refresh of person %s failed", person_id)
        report.error(f"cours {course_id}, personne {person_id} : {_describe(exc)}")
    finally:
        report.calls = clients.calls
        clients.close()
    report.seconds = time.monotonic() - started
    report.finish()
    if report.wrote or report.error_count:
        _finish_run(sessions, report)
    return report


def _moodle_userid(
    client: MoodleClient, sub: str, username: str, email: str, fields: Sequence[str]
) -> int | None:
    """The person's Moodle user id: their LTI ``sub``, else looked up as configured."""
    if sub.isdigit():
        return int(sub)
    for name, value in (("username", username), ("email", email)):
        if name in fields and value:
            users = client.get_users_by_field(name, [value])
            if len(users) == 1:
                return users[0].id
    return None


#: At most this many launch refreshes at once in a process; more are skipped (the
#: scheduled sync catches up).
REFRESH_SLOTS = 2
#: The same person is refreshed at most once in this many seconds by a process.
REFRESH_MIN_SECONDS = 60.0
_refresh_slots = threading.BoundedSemaphore(REFRESH_SLOTS)
_refresh_lock = threading.Lock()
# Keyed by database too: a process may serve several (tests, two instances in one process).
_RefreshKey = tuple[str, int, int, int]
_refresh_running: set[_RefreshKey] = set()
_refresh_last: dict[_RefreshKey, float] = {}


def refresh_person_async(
    runtime: Runtime,
    platform_id: int,
    course_id: int,
    person_id: int,
    *,
    client_factory: ClientFactory | None = None,
) -> threading.Thread | None:
    """Refresh the launching person's completions in a background thread.

    Returns at once (the thread, or None when skipped: already running, done less than
    a minute ago, or the process already runs its maximum of refreshes). Errors are
    logged, never raised. The in-process memory here only saves work; it is not state
    another instance needs.
    """
    key = (str(runtime.engine.url), platform_id, course_id, person_id)
    now = time.monotonic()
    with _refresh_lock:
        if key in _refresh_running:
            return None
        last = _refresh_last.get(key)
        if last is not None and now - last < REFRESH_MIN_SECONDS:
            return None
        if not _refresh_slots.acquire(blocking=False):
            return None
        _refresh_running.add(key)
        _refresh_last[key] = now
        if len(_refresh_last) > 10_000:  # forget old entries
            for old in [k for k, t in _refresh_last.items() if now - t > REFRESH_MIN_SECONDS]:
                del _refresh_last[old]

    def work() -> None:
        try:
            refresh_person(
                runtime.sessions, platform_id, course_id, person_id,
                client_factory=client_factory,
            )
        except Exception:
            log.exception("sync: refresh of person %s in course %s failed", person_id, course_id)
        finally:
            with _refresh_lock:
                _refresh_running.discard(key)
            _refresh_slots.release()

    thread = threading.Thread(
        target=work, name=f"moodle-refresh-{course_id}-{person_id}", daemon=True
    )
    try:
        thread.start()
    except RuntimeError:  # no thread to be had: skip, the scheduled sync catches up
        log.warning("sync: cannot start a refresh thread for person %s", person_id)
        with _refresh_lock:
            _refresh_running.discard(key)
        _refresh_slots.release()
        return None
    return thread


def forget_refreshes() -> None:
    """Forget when people were last refreshed (for tests)."""
    with _refresh_lock:
        _refresh_last.clear()


# ------------------------------------------------------------------ in the background


class BackgroundSync:
    """A daemon thread running the sync every ``interval`` seconds, under the lease."""

    def __init__(
        self,
        runtime: Runtime,
        interval: float,
        *,
        first_delay: float,
        client_factory: ClientFactory | None = None,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        if interval <= 0:
            raise ValueError("the interval must be positive")
        self.runtime = runtime
        self.interval = interval
        self.first_delay = first_delay
        self.client_factory = client_factory
        self.workers = workers
        self.rounds = 0
        self.last_reports: list[RunReport] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="reperes-sync", daemon=True)

    def start(self) -> BackgroundSync:
        self.thread.start()
        return self

    def _loop(self) -> None:
        delay = self.first_delay
        while not self._stop.wait(delay):
            try:
                self.last_reports = run_sync(
                    self.runtime,
                    trigger="timer",
                    client_factory=self.client_factory,
                    workers=self.workers,
                    should_stop=self._stop.is_set,
                )
            except LockBusy as busy:
                log.info("sync: skipped, %s", busy)
            except Exception:
                log.exception("sync: the scheduled run failed")
            self.rounds += 1
            delay = self.interval

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop (a run in progress stops between two people)."""
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)


def start_background_sync(
    runtime: Runtime,
    interval_seconds: float,
    *,
    first_delay: float | None = None,
    client_factory: ClientFactory | None = None,
    workers: int = DEFAULT_WORKERS,
) -> BackgroundSync:
    """Start the sync every ``interval_seconds`` in a daemon thread (``serve --sync-every``).

    Every process may start one: the lease lets one run at a time and the others skip
    that round. The first run comes after ``first_delay`` (default: 30 s, or the
    interval when shorter), so that starting the service stays quick.
    """
    delay = min(30.0, interval_seconds) if first_delay is None else first_delay
    return BackgroundSync(
        runtime, interval_seconds, first_delay=delay, client_factory=client_factory,
        workers=workers,
    ).start()
