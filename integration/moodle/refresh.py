"""One person's completions, refreshed in the background when they launch Repères."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.moodle import (
    MoodleClient,
    MoodleError,
)

from ..models import (
    Course,
    Membership,
    Parcours,
    Person,
    Platform,
    Role,
)
from .connection import (
    ClientFactory,
    has_connection,
    match_fields,
    moodle_token,
)

if TYPE_CHECKING:
    from ..runtime import Runtime

from .clients import _Clients
from .load import completions_from, load_modules
from .report import RunReport, _finish_run
from .run import _describe
from .write import _Codes, _course_info, _write_with_retry

log = logging.getLogger(__name__)

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


