"""The sync's plan for one person: what to write so stored tasks match Moodle (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo

from docx_templates.context import date_fr

from ..models import (
    EvidenceKind,
)
from ..platform_settings import DEFAULT_TIMEZONE, zone_named
from .mapping import Address

EVIDENCE_KIND = EvidenceKind.MOODLE
# The structure's calendar when none is given (a platform's own: PlatformSettings.zone).
LOCAL_TZ = zone_named(DEFAULT_TIMEZONE)
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
    zone: tzinfo = LOCAL_TZ,
) -> PersonPlan:
    """What to write for one person so that stored tasks match Moodle (pure function).

    Dates and captions are on the calendar of the structure (`zone`).

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
                old_day = local_date(task.completed_at, zone)
                new_day = local_date(completion.completed_at, zone)
                if task.ended_on in (None, old_day) and task.ended_on != new_day:
                    change.ended_on = new_day
                old_caption = completion_caption(task.completed_at, zone)
                new_caption = completion_caption(completion.completed_at, zone)
                for evidence in task.evidence:
                    if (
                        not evidence.deleted
                        and evidence.caption == old_caption
                        and old_caption != new_caption
                    ):
                        change.captions.append((evidence.id, new_caption))
            if not task.evidence:
                change.add_evidence = completion_caption(completion.completed_at, zone)
        elif completion is not None and task.completed is not False:
            change.completed = False
        change.add_tags = [
            a for a in tags if a not in task.tags and (task.id, a) not in state.removed_tags
        ]
        if not change.empty:
            plan.changes.append(change)
    return plan


