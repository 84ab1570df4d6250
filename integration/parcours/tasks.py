"""Tasks (activités réalisées): what the person does, in their own words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..actor import Actor
from ..models import Task, TaskSource, utcnow
from .access import parcours_for, require_own_words, task_for
from .errors import Invalid
from .history import record
from .services import check_version
from .text import clean_text, parse_date

TEXT_FIELDS = ("title", "description", "where", "how", "tools", "frequency")
SINGLE_LINE = {"title", "where", "frequency"}
DATE_FIELDS = ("started_on", "ended_on")
# « Ne pas mettre dans le dossier » (issue 16): the candidat's choice, like the words.
SWITCHES = ("out_of_dossier",)
EDITABLE = (*TEXT_FIELDS, *DATE_FIELDS, "source", *SWITCHES)
# Sources a person may choose; `moodle` tasks come from the sync only.
CHOOSABLE_SOURCES = (TaskSource.WORKPLACE, TaskSource.COURSEWORK)


def _clean(changes: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise Invalid(f"Champ inconnu : {', '.join(unknown)}.", field=unknown[0])
    clean: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in changes or (creating and name == "title"):
            clean[name] = clean_text(
                changes.get(name),
                name,
                required=name == "title",
                multiline=name not in SINGLE_LINE,
            )
    for name in DATE_FIELDS:
        if name in changes:
            clean[name] = parse_date(changes[name], name)
    for name in SWITCHES:
        if name in changes:
            value = changes[name]
            if isinstance(value, str) and value in ("0", "1", "true", "false", "on", "off"):
                value = value in ("1", "true", "on")
            if not isinstance(value, bool):
                raise Invalid("Répondez oui ou non.", field=name)
            clean[name] = value
    if "source" in changes:
        try:
            source = TaskSource(changes["source"])
        except ValueError:
            source = None
        if source not in CHOOSABLE_SOURCES:
            raise Invalid(
                "Choisissez d’où vient l’activité : workplace (au travail) "
                "ou coursework (en formation).",
                field="source",
            )
        clean["source"] = source
    return clean


def _check_dates(task: Task) -> None:
    if task.started_on and task.ended_on and task.ended_on < task.started_on:
        raise Invalid("La date de fin est avant la date de début.", field="ended_on")


def create_task(
    session: Session, actor: Actor, parcours_id: int, data: Mapping[str, Any]
) -> Task:
    """A new task in the parcours. `title` is required; the other fields are optional."""
    parcours = parcours_for(session, actor, parcours_id)
    require_own_words(actor, parcours)
    clean = _clean(data, creating=True)
    task = Task(parcours_id=parcours.id, created_by_id=actor.person_id, **clean)
    _check_dates(task)
    session.add(task)
    session.flush()
    record(session, parcours.id, actor, "task.created", task_id=task.id, title=task.title)
    session.flush()
    return task


def get_task(session: Session, actor: Actor, task_id: int) -> Task:
    return task_for(session, actor, task_id)


def list_tasks(
    session: Session, actor: Actor, parcours_id: int, *, deleted: bool = False
) -> list[Task]:
    """The tasks of a parcours, oldest first (or only the removed ones, with `deleted`)."""
    parcours_for(session, actor, parcours_id)
    stmt = select(Task).where(Task.parcours_id == parcours_id).options(
        # What a list shows of each task, in two queries whatever the number of tasks.
        selectinload(Task.tags), selectinload(Task.evidence))
    stmt = stmt.where(Task.deleted_at.is_not(None) if deleted else Task.deleted_at.is_(None))
    return list(session.scalars(stmt.order_by(Task.id)))


def update_task(
    session: Session,
    actor: Actor,
    task_id: int,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> Task:
    """Change some fields. With `expected_version`, StaleVersion if someone saved first."""
    task = task_for(session, actor, task_id)
    require_own_words(actor, task.parcours)
    check_version(task.version, expected_version)
    clean = _clean(changes, creating=False)
    before = {name: getattr(task, name) for name in clean}
    changed = {name: value for name, value in clean.items() if before[name] != value}
    if not changed:
        return task
    for name, value in changed.items():
        setattr(task, name, value)
    _check_dates(task)
    # The old words are kept in the history: an edit never loses what was written.
    record(
        session, task.parcours_id, actor, "task.updated", task_id=task.id,
        old={k: _plain(before[k]) for k in changed},
        new={k: _plain(v) for k, v in changed.items()},
    )
    session.flush()
    return task


def delete_task(
    session: Session, actor: Actor, task_id: int, *, expected_version: int | None = None
) -> Task:
    """Hide a task (it can be restored: nothing written is lost)."""
    task = task_for(session, actor, task_id)
    require_own_words(actor, task.parcours)
    check_version(task.version, expected_version)
    task.deleted_at = utcnow()
    record(session, task.parcours_id, actor, "task.deleted", task_id=task.id, title=task.title)
    session.flush()
    return task


def restore_task(session: Session, actor: Actor, task_id: int) -> Task:
    """Bring back a removed task, with its evidence and tags."""
    task = task_for(session, actor, task_id, include_deleted=True)
    require_own_words(actor, task.parcours)
    if task.deleted_at is None:
        return task
    task.deleted_at = None
    record(session, task.parcours_id, actor, "task.restored", task_id=task.id, title=task.title)
    session.flush()
    return task


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, TaskSource):
        return value.value
    return value
