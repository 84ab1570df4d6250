"""A sync run: every course of every connected platform, under the database lease."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.moodle import (
    ActivitiesCompletion,
    MoodleError,
    MoodleTokenError,
)

from ..models import (
    MAPPING_CONFIRMED,
    ActivityMapping,
    Course,
    Membership,
    Parcours,
    Platform,
)
from ..ops import ProgressFn
from ..ops.locks import DEFAULT_TTL, Lease, LockBusy, read_lease
from .connection import (
    ClientFactory,
    has_connection,
    moodle_token,
)

if TYPE_CHECKING:
    from ..runtime import Runtime

from .clients import _Clients, _InFlight
from .load import completions_from, load_modules, load_states
from .people import MembershipInfo, PersonIndex, may_get_parcours
from .plan import plan_person
from .report import RunReport, _finish_run, _start_run
from .write import CourseInfo, _Codes, _course_info, _write_with_retry

log = logging.getLogger(__name__)

LOCK_NAME = "moodle-sync"
DEFAULT_WORKERS = 4
#: Enrolled users per ``core_enrol_get_enrolled_users`` call.
PAGE_SIZE = 200
#: What the enrolled-users answers carry: just enough to match people and read roles.
USERFIELDS = "id,username,email,fullname,firstname,lastname,roles"
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
    progress: ProgressFn | None = None,
) -> list[RunReport]:
    """Run the sync once for every platform with a Moodle connection (or those given).

    Takes no lock: ``run_sync`` is the entry point that does. One SyncRun per platform.
    ``progress`` is told the people, courses and calls done after each person.
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
    for number, platform_id in enumerate(platform_ids, start=1):
        if stop():
            break
        tracker = _Tracker(progress, number, len(platform_ids)) if progress else None
        reports.append(
            _sync_platform(
                sessions, platform_id, trigger=trigger, courses=courses,
                client_factory=client_factory, workers=workers, stop=stop, codes=codes,
                tracker=tracker,
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
    tracker: _Tracker | None = None,
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
    if tracker is not None:
        tracker.courses_total = len(infos)
        tracker.clients = clients
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
                            sessions, clients, pool, course, index, report, codes, workers, stop,
                            tracker,
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
    tracker: _Tracker | None = None,
) -> None:
    if tracker is not None:
        tracker.start_course()
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
    if tracker is not None:
        tracker.course_targets(len(targets))

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
        if tracker is not None:
            tracker.person_done()
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
        if snapshot is not None and plan_person(
            snapshot, modules, completions, codes, course.zone
        ).empty:
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


class _Tracker:
    """Counts a platform's run for the progress callback (people, courses, calls)."""

    def __init__(self, progress: ProgressFn, platform: int, platforms: int) -> None:
        self._progress = progress
        self._platform = (platform, platforms)
        self.courses_total = 0
        self.clients: _Clients | None = None
        self._courses_started = 0
        self._people_total = 0
        self._people = 0
        self._in_course = (0, 0)  # (done, total) in the current course

    def start_course(self) -> None:
        self._courses_started += 1
        self._in_course = (0, 0)
        self._tell()

    def course_targets(self, count: int) -> None:
        self._people_total += count
        self._in_course = (0, count)
        self._tell()

    def person_done(self) -> None:
        self._people += 1
        done, total = self._in_course
        self._in_course = (done + 1, total)
        self._tell()

    def _tell(self) -> None:
        counts: dict[str, int | tuple[int, int]] = {
            "personnes": (self._people, self._people_total),
            "cours": (max(0, self._courses_started), self.courses_total),
            "appels": self.clients.calls if self.clients is not None else 0,
        }
        if self._platform[1] > 1:
            counts["plateformes"] = self._platform
        fraction = None
        if self.courses_total:
            done, total = self._in_course
            within = done / total if total else 0.0
            fraction = (max(0, self._courses_started - 1) + within) / self.courses_total
        self._progress(counts, fraction)


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
    progress: ProgressFn | None = None,
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
            progress=progress,
        )
    finally:
        lease.release()


