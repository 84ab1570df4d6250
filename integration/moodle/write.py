"""Writing one person's plan: new tasks, their evidence and tags, changes, history lines."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from referentiels import Catalog

from ..db import Base, transaction
from ..models import (
    Course,
    Evidence,
    HistoryEntry,
    Parcours,
    ParcoursReferentiel,
    ParcoursStatus,
    Platform,
    Tag,
    Task,
    TaskSource,
    utcnow,
)
from ..parcours.catalog import EVERY_PLATFORM, load_catalog
from ..parcours.items import find_item
from ..platform_settings import PlatformSettings
from .connection import (
    moodle_course_id,
)
from .load import _aware, load_states
from .mapping import Address, address_text, course_offer
from .plan import (
    EVIDENCE_KIND,
    LOCAL_TZ,
    Completion,
    MappedModule,
    NewTask,
    ParcoursState,
    TaskChange,
    completion_caption,
    local_date,
    plan_person,
)
from .report import WriteResult

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class CourseInfo:
    id: int
    platform_id: int
    title: str
    moodle_id: int | None
    default_ref: tuple[str, str] | None  # the course's référentiel when it offers one
    zone: tzinfo = LOCAL_TZ  # the structure's calendar, for completion dates and captions


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
        zone=PlatformSettings.of(session.get(Platform, course.platform_id)).zone,
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
    plan = plan_person(state, modules, completions, has_code, course.zone)
    if plan.empty:
        return result
    parcours_id = state.id
    if parcours_id is None:
        parcours_id = _create_parcours(session, course, person_id)
        result.parcours_created = 1

    if plan.new_tasks:
        _insert_tasks(session, parcours_id, plan.new_tasks, result, course.zone)

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
    session: Session, parcours_id: int, new_tasks: Sequence[NewTask], result: WriteResult,
    zone: tzinfo = LOCAL_TZ,
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
                "ended_on": local_date(new.completed_at, zone),
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
             "caption": completion_caption(new.completed_at, zone), "created_at": now}
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


