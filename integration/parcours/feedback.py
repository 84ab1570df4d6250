"""The accompagnateur's words on one activity: comments, proposed compétences, seen marks,
and the review of a whole activity at once (an avis per compétence and one comment).

- a comment is kept, dated and signed, on any activity (with a compétence or not); the
  candidat reads it on the activity's page and the dossier may show it;
- a proposal suggests a compétence of the parcours' référentiels; the candidat accepts it
  (the link is then theirs, made as them) or declines it; nothing is linked before;
- a seen mark remembers when this accompagnateur last looked at an activity: « À regarder »
  shows it again only when it changes.

The rules are `access.py`'s; these services check them before any change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from referentiels import Catalog

from ..actor import Actor
from ..models import (
    ActivityComment,
    Course,
    Parcours,
    Person,
    Review,
    Tag,
    TagProposal,
    Task,
    TaskSeen,
    utcnow,
)
from .access import (
    may_read_feedback,
    require_may_decide_proposal,
    require_may_give_feedback,
    task_for,
    visible_parcours_clause,
)
from .errors import Conflict, Invalid, NotFound
from .history import record
from .reviews import add_review
from .tags import add_tag, resolve_item
from .text import clean_text

NOT_FOUND_PROPOSAL = "Cette proposition n’existe pas, ou vous ne pouvez pas la voir."
MAX_PENDING_PER_TASK = 10


def _name(session: Session, actor: Actor) -> str:
    person = session.get(Person, actor.person_id)
    return person.display_name if person is not None else ""


# --- comments ------------------------------------------------------------------------------


def add_comment(session: Session, actor: Actor, task_id: int, comment: object) -> ActivityComment:
    """The accompagnateur comments one activity (an empty comment is refused)."""
    task = task_for(session, actor, task_id)
    require_may_give_feedback(actor, task.parcours)
    text = clean_text(comment, "comment")
    if not text.strip():
        raise Invalid("Écrivez votre commentaire.", field="comment")
    row = ActivityComment(task_id=task.id, parcours_id=task.parcours_id,
                          author_id=actor.person_id, author_name=_name(session, actor),
                          comment=text)
    session.add(row)
    session.flush()
    record(session, task.parcours_id, actor, "activity.commented", task_id=task.id,
           comment=text)
    mark_seen(session, actor, [task.id])
    return row


# --- proposals -----------------------------------------------------------------------------


def propose_tag(session: Session, actor: Actor, task_id: int, *, referentiel_id: str,
                competence_code: str, referentiel_version: str | None = None,
                catalog: Catalog) -> TagProposal:
    """Suggest a compétence for an activity; the candidat will decide."""
    task = task_for(session, actor, task_id)
    require_may_give_feedback(actor, task.parcours)
    item = resolve_item(task.parcours, catalog, referentiel_id, referentiel_version,
                        competence_code)
    address = (item.referentiel_id, item.referentiel_version, item.code)
    tagged = {(t.referentiel_id, t.referentiel_version, t.competence_code)
              for t in session.scalars(select(Tag).where(Tag.task_id == task.id))}
    if address in tagged:
        raise Conflict("Cette compétence est déjà choisie pour cette activité.",
                       field="competence_code")
    pending = list(session.scalars(select(TagProposal).where(
        TagProposal.task_id == task.id, TagProposal.decided_at.is_(None))))
    if any((p.referentiel_id, p.referentiel_version, p.competence_code) == address
           for p in pending):
        raise Conflict("Cette compétence est déjà proposée au candidat.",
                       field="competence_code")
    if len(pending) >= MAX_PENDING_PER_TASK:
        raise Invalid(f"{MAX_PENDING_PER_TASK} propositions attendent déjà le candidat.",
                      field="competence_code")
    proposal = TagProposal(task_id=task.id, referentiel_id=item.referentiel_id,
                           referentiel_version=item.referentiel_version,
                           competence_code=item.code, proposed_by_id=actor.person_id,
                           proposed_by_name=_name(session, actor))
    session.add(proposal)
    session.flush()
    record(session, task.parcours_id, actor, "tag.proposed", task_id=task.id,
           address=item.address)
    mark_seen(session, actor, [task.id])
    return proposal


def proposal_for(session: Session, actor: Actor, proposal_id: int) -> TagProposal:
    """The proposal if the actor sees its activity; NotFound otherwise."""
    found = session.scalars(
        select(TagProposal)
        .join(Task, Task.id == TagProposal.task_id)
        .join(Parcours, Parcours.id == Task.parcours_id)
        .join(Course, Course.id == Parcours.course_id)
        .where(TagProposal.id == proposal_id, Task.deleted_at.is_(None),
               visible_parcours_clause(actor))
    ).first()
    if found is None:
        raise NotFound(NOT_FOUND_PROPOSAL)
    return found


def decide_proposal(session: Session, actor: Actor, proposal_id: int, *, accept: bool,
                    catalog: Catalog) -> TagProposal:
    """The candidat accepts (the link is made, as theirs) or declines a proposal."""
    proposal = proposal_for(session, actor, proposal_id)
    task = task_for(session, actor, proposal.task_id)
    require_may_decide_proposal(actor, task.parcours)
    if proposal.decided_at is not None:
        raise Conflict("Vous avez déjà répondu à cette proposition.", field="proposal")
    if accept:
        add_tag(session, actor, task.id, referentiel_id=proposal.referentiel_id,
                referentiel_version=proposal.referentiel_version,
                competence_code=proposal.competence_code, catalog=catalog)
    proposal.decided_at = utcnow()
    proposal.accepted = accept
    record(session, task.parcours_id, actor,
           "tag.proposal_accepted" if accept else "tag.proposal_declined", task_id=task.id,
           address=f"{proposal.referentiel_id}@{proposal.referentiel_version}"
                   f"#{proposal.competence_code}")
    session.flush()
    return proposal


# --- reading ---------------------------------------------------------------------------------


@dataclass
class Feedback:
    """What the accompagnateurs said about one activity, oldest first."""

    comments: list[ActivityComment] = field(default_factory=list)
    proposals: list[TagProposal] = field(default_factory=list)

    @property
    def pending(self) -> list[TagProposal]:
        return [p for p in self.proposals if p.decided_at is None]

    def __bool__(self) -> bool:
        return bool(self.comments or self.proposals)


def feedback_for(session: Session, actor: Actor, task_id: int) -> Feedback:
    """The comments and proposals of one activity (NotFound if the actor does not see it)."""
    task = task_for(session, actor, task_id)
    if not may_read_feedback(actor, task.parcours):
        raise NotFound("Cette activité n’existe pas, ou vous ne pouvez pas la voir.")
    return Feedback(
        list(session.scalars(select(ActivityComment).where(ActivityComment.task_id == task.id)
                             .order_by(ActivityComment.id))),
        list(session.scalars(select(TagProposal).where(TagProposal.task_id == task.id)
                             .order_by(TagProposal.id))),
    )


# --- seen marks --------------------------------------------------------------------------------


def mark_seen(session: Session, actor: Actor, task_ids: Iterable[int]) -> None:
    """Remember that this accompagnateur looked at these activities now (the caller has
    checked that they see them)."""
    ids = sorted(set(task_ids))
    if not ids:
        return
    now = utcnow()
    marks = {m.task_id: m for m in session.scalars(select(TaskSeen).where(
        TaskSeen.person_id == actor.person_id, TaskSeen.task_id.in_(ids)))}
    for task_id in ids:
        if task_id in marks:
            marks[task_id].seen_at = now
            continue
        try:
            with session.begin_nested():
                session.add(TaskSeen(person_id=actor.person_id, task_id=task_id, seen_at=now))
                session.flush()
        except IntegrityError:
            pass  # marked at the same moment by another request of the same person
    session.flush()


def open_activity(session: Session, actor: Actor, task_id: int) -> Task:
    """The activity an accompagnateur opens: marked as seen by them."""
    task = task_for(session, actor, task_id)
    require_may_give_feedback(actor, task.parcours)
    mark_seen(session, actor, [task.id])
    return task


# --- the review of one activity ----------------------------------------------------------------


@dataclass(frozen=True)
class ActivityReview:
    reviews: list[Review]
    comment: ActivityComment | None


def review_activity(session: Session, actor: Actor, task_id: int, *,
                    verdicts: Mapping[tuple[str, str, str], str], comment: object = "",
                    catalog: Catalog) -> ActivityReview:
    """An avis on some compétences of one activity, and one comment on the activity.

    `verdicts` maps (référentiel id, version, code) to « oui », « partiellement » or
    « non »; an empty value leaves that compétence as it was. The comment goes with each
    avis given (the candidat reads it beside the compétence) and on the activity.
    """
    task = task_for(session, actor, task_id)
    require_may_give_feedback(actor, task.parcours)
    text = clean_text(comment, "comment")
    reviews = []
    for (ref_id, version, code), verdict in verdicts.items():
        if not verdict:
            continue
        reviews.append(add_review(session, actor, task.parcours_id, referentiel_id=ref_id,
                                  referentiel_version=version, competence_code=code,
                                  verdict=verdict, comment=text, catalog=catalog))
    written = add_comment(session, actor, task.id, text) if text.strip() else None
    mark_seen(session, actor, [task.id])
    return ActivityReview(reviews, written)
