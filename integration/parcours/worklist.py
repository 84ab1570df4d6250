"""« À regarder »: the activities of a course an accompagnateur has not looked at yet.

An activity is to look at, for one accompagnateur, when:
- it is in the candidat's own words (a Moodle module completed needs no reading), alive,
  in a parcours of the course that this accompagnateur sees;
- this accompagnateur never opened it, or it changed since (its words, a new photo, a new
  compétence linked);
- and it waits for an avis: it has no compétence yet (a comment or a proposal helps), or one
  of its compétences has no avis given since the activity last changed.

Newest first. Decided in the database, in two statements whatever the size of the course
(the counts per parcours, then the rows shown): the course page, this list, the « suivante »
of the review and the gradebook's comment all count the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement

from ..actor import Actor
from ..models import Course, Evidence, Parcours, Person, Review, Tag, Task, TaskSeen, TaskSource
from .access import visible_parcours_clause

Address = tuple[str, str, str]


@dataclass(frozen=True)
class WorkItem:
    task_id: int
    parcours_id: int
    person_name: str
    title: str
    words: str  # how they do it, or the description
    changed_at: datetime | None
    new: bool  # never opened by this accompagnateur (else: changed since)
    photo_id: int | None  # the first photo with a preview
    competences: int  # how many compétences it is linked with


@dataclass
class WorkList:
    items: list[WorkItem] = field(default_factory=list)  # the newest, as many as asked
    by_parcours: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    total: int = 0

    @property
    def count(self) -> int:
        return self.total

    def of(self, parcours_id: int) -> int:
        return self.by_parcours.get(parcours_id, 0)


class greatest(FunctionElement[datetime]):  # noqa: N801  (an SQL function's name)
    """The latest of several moments: GREATEST on PostgreSQL, max(a, b, …) on SQLite."""

    inherit_cache = True


@compiles(greatest)
def _greatest_default(element: greatest, compiler: Any, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: Any, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


def _waiting(session: Session, actor: Actor, course_id: int, parcours_id: int | None,
             exclude: int | None, only: Sequence[int] | None = None) -> tuple[Select[Any], Any]:
    """The activities to look at, as one WHERE, and their moment of change."""
    evidence_at = (
        select(func.max(Evidence.created_at))
        .where(Evidence.task_id == Task.id, Evidence.deleted_at.is_(None))
        .correlate(Task).scalar_subquery()
    )
    tag_at = (
        select(func.max(Tag.updated_at)).where(Tag.task_id == Task.id)
        .correlate(Task).scalar_subquery()
    )
    changed = greatest(Task.updated_at, func.coalesce(evidence_at, Task.updated_at),
                       func.coalesce(tag_at, Task.updated_at))
    seen = TaskSeen
    tag = aliased(Tag)
    # A compétence of the activity without an avis given since the activity changed.
    unanswered = exists().where(
        tag.task_id == Task.id,
        ~exists().where(
            Review.parcours_id == Task.parcours_id,
            Review.referentiel_id == tag.referentiel_id,
            Review.referentiel_version == tag.referentiel_version,
            Review.competence_code == tag.competence_code,
            Review.created_at >= changed,
        ).correlate(Task, tag),
    ).correlate(Task)
    untagged = ~exists().where(Tag.task_id == Task.id).correlate(Task)
    stmt = (
        select(Task.id)
        .join(Parcours, Parcours.id == Task.parcours_id)
        .join(Course, Course.id == Parcours.course_id)
        .outerjoin(seen, and_(seen.task_id == Task.id, seen.person_id == actor.person_id))
        .where(visible_parcours_clause(actor), Parcours.course_id == course_id,
               Task.deleted_at.is_(None), Task.source != TaskSource.MOODLE,
               or_(seen.id.is_(None), seen.seen_at < changed),
               or_(untagged, unanswered))
    )
    if parcours_id is not None:
        stmt = stmt.where(Task.parcours_id == parcours_id)
    if exclude is not None:
        stmt = stmt.where(Task.id != exclude)
    if only is not None:
        stmt = stmt.where(Task.id.in_(list(only)))
    return stmt, changed


def to_look_at(session: Session, actor: Actor, *, course_id: int | None = None,
               parcours_id: int | None = None, rows: int | None = 0,
               exclude: int | None = None, counts: bool = True,
               only: Sequence[int] | None = None) -> WorkList:
    """The activities waiting for this accompagnateur in the course of the launch (or one
    parcours of it): the count, per parcours, and the `rows` newest (all when None).

    Two statements whatever the size of the course: the counts, then the rows shown
    (`counts=False`: the rows only, for « la suivante »). `only`: among these activities
    (the list the accompagnateur is going through), so « la suivante » costs a few rows."""
    course_id = actor.course_id if course_id is None else course_id
    waiting, changed = _waiting(session, actor, course_id, parcours_id, exclude, only)
    result = WorkList()
    counted = waiting.with_only_columns(Task.parcours_id, func.count(Task.id)).group_by(
        Task.parcours_id)
    if counts:
        for pid, count in session.execute(counted):
            result.by_parcours[pid] = int(count)
            result.total += int(count)
    if rows == 0 or (counts and not result.total):
        return result
    photo = (
        select(func.min(Evidence.id))
        .where(Evidence.task_id == Task.id, Evidence.deleted_at.is_(None),
               Evidence.preview_path.is_not(None))
        .correlate(Task).scalar_subquery()
    )
    tags = select(func.count(Tag.id)).where(Tag.task_id == Task.id).correlate(
        Task).scalar_subquery()
    shown = (
        waiting.with_only_columns(
            Task.id, Task.parcours_id, Person.name, Person.given_name, Person.family_name,
            Person.email, Task.title, Task.how, Task.description, changed.label("changed"),
            photo, tags, TaskSeen.id)
        .join(Person, Person.id == Parcours.person_id)
        .order_by(changed.desc(), Task.id.desc())
    )
    if rows is not None:
        shown = shown.limit(rows)
    for (task_id, pid, name, given, family, email, title, how, description, at, photo_id,
         tag_count, seen_id) in session.execute(shown):
        full = " ".join(p for p in (given, family) if p)
        result.items.append(WorkItem(
            task_id, pid, name or full or email or "Personne sans nom", title,
            how or description or "", _moment(at), seen_id is None, photo_id,
            int(tag_count or 0)))
    return result


def _moment(value: Any) -> datetime | None:
    """SQLite answers max(…) of stored moments as text: read back as UTC."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
