"""« À regarder »: the activities of a course an accompagnateur has not looked at yet.

An activity is to look at, for one accompagnateur, when:
- it is in the candidat's own words (a Moodle module completed needs no reading), alive,
  in a parcours of the course that this accompagnateur sees;
- this accompagnateur never opened it, or it changed since (its words, a new photo, a new
  compétence linked);
- and it waits for an avis: it has no compétence yet (a comment or a proposal helps), or one
  of its compétences has no avis given since the activity last changed.

Newest first. Read in three queries whatever the size of the course (the activities with
their seen mark, their compétences, the latest avis): the course page, this list, the
« suivante » of the review and the gradebook's comment all count the same way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

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
    items: list[WorkItem] = field(default_factory=list)
    by_parcours: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def count(self) -> int:
        return len(self.items)

    def of(self, parcours_id: int) -> int:
        return self.by_parcours.get(parcours_id, 0)


def _latest(*moments: datetime | None) -> datetime | None:
    found = [m for m in moments if m is not None]
    return max(found) if found else None


def to_look_at(session: Session, actor: Actor, *, course_id: int | None = None,
               parcours_id: int | None = None, limit: int | None = None,
               exclude: int | None = None) -> WorkList:
    """The activities waiting for this accompagnateur in the course of the launch (or one
    parcours of it), newest first. `limit` stops early (« la suivante »): the counts
    then cover only what was read."""
    course_id = actor.course_id if course_id is None else course_id
    evidence_at = (
        select(func.max(Evidence.created_at))
        .where(Evidence.task_id == Task.id, Evidence.deleted_at.is_(None))
        .correlate(Task).scalar_subquery()
    )
    tag_at = (
        select(func.max(Tag.updated_at)).where(Tag.task_id == Task.id)
        .correlate(Task).scalar_subquery()
    )
    photo = (
        select(func.min(Evidence.id))
        .where(Evidence.task_id == Task.id, Evidence.deleted_at.is_(None),
               Evidence.preview_path.is_not(None))
        .correlate(Task).scalar_subquery()
    )
    seen = TaskSeen
    stmt = (
        select(Task.id, Task.parcours_id, Person.name, Person.given_name, Person.family_name,
               Person.email, Task.title, Task.how, Task.description, Task.updated_at,
               evidence_at, tag_at, photo, seen.seen_at)
        .join(Parcours, Parcours.id == Task.parcours_id)
        .join(Course, Course.id == Parcours.course_id)
        .join(Person, Person.id == Parcours.person_id)
        .outerjoin(seen, and_(seen.task_id == Task.id, seen.person_id == actor.person_id))
        .where(visible_parcours_clause(actor), Parcours.course_id == course_id,
               Task.deleted_at.is_(None), Task.source != TaskSource.MOODLE,
               or_(seen.id.is_(None), seen.seen_at < Task.updated_at,
                   seen.seen_at < evidence_at, seen.seen_at < tag_at))
        .order_by(Task.updated_at.desc(), Task.id.desc())
    )
    if parcours_id is not None:
        stmt = stmt.where(Task.parcours_id == parcours_id)
    if exclude is not None:
        stmt = stmt.where(Task.id != exclude)
    if limit is not None:
        stmt = stmt.limit(max(limit * 4, 20))  # some read may already have their avis
    rows = session.execute(stmt).all()
    result = WorkList()
    if not rows:
        return result
    ids = [r[0] for r in rows]
    parcours_ids = sorted({r[1] for r in rows})
    tags: dict[int, list[Address]] = defaultdict(list)
    tag_stmt = select(Tag.task_id, Tag.referentiel_id, Tag.referentiel_version,
                      Tag.competence_code)
    if limit is not None:
        tag_stmt = tag_stmt.where(Tag.task_id.in_(ids))
    else:  # the same rows, without a list of thousands of ids
        tag_stmt = tag_stmt.join(Task, Task.id == Tag.task_id).where(
            Task.parcours_id.in_(parcours_ids), Task.deleted_at.is_(None))
    for task_id, ref_id, version, code in session.execute(tag_stmt):
        tags[task_id].append((ref_id, version, code))
    avis: dict[tuple[int, str, str, str], datetime] = {
        (pid, ref_id, version, code): at
        for pid, ref_id, version, code, at in session.execute(
            select(Review.parcours_id, Review.referentiel_id, Review.referentiel_version,
                   Review.competence_code, func.max(Review.created_at))
            .where(Review.parcours_id.in_(parcours_ids))
            .group_by(Review.parcours_id, Review.referentiel_id, Review.referentiel_version,
                      Review.competence_code))
    }
    for (task_id, pid, name, given, family, email, title, how, description, updated,
         ev_at, tg_at, photo_id, seen_at) in rows:
        changed = _latest(updated, ev_at, tg_at)
        linked = tags.get(task_id, [])
        if linked and all(
            (given_at := avis.get((pid, *address))) is not None
            and (changed is None or given_at >= changed)
            for address in linked
        ):
            continue  # every compétence already has an avis given since it changed
        full = " ".join(p for p in (given, family) if p)
        result.items.append(WorkItem(
            task_id, pid, name or full or email or "Personne sans nom", title,
            how or description or "", changed, seen_at is None, photo_id, len(linked)))
        result.by_parcours[pid] += 1
        if limit is not None and len(result.items) >= limit:
            break
    result.items.sort(key=lambda i: (i.changed_at is not None, i.changed_at, i.task_id),
                      reverse=True)
    return result
