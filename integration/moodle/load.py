"""Reading what the sync needs: mapped modules, stored states, Moodle completions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from connectors.moodle import (
    ActivitiesCompletion,
)

from ..models import (
    MAPPING_CONFIRMED,
    ActivityMapping,
    Evidence,
    HistoryEntry,
    Parcours,
    ParcoursReferentiel,
    Tag,
    Task,
)
from .mapping import Address, parse_address_text
from .plan import EVIDENCE_KIND, Completion, EvidenceState, MappedModule, ParcoursState, TaskState

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


