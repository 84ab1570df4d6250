"""Who may see and change which parcours.

- a candidat: their own parcours, in the course of their launch;
- an accompagnateur: the parcours of the course of their launch, and of every course of
  the same platform where they hold the accompagnateur (or coordinateur) role;
- a coordinateur: every parcours of their platform.

Nothing crosses platforms. What a person may not see does not exist for them: the
lookups below answer NotFound, never Forbidden, so that ids leak nothing. Forbidden is
kept for a visible parcours where the role does not allow the action.

The candidat owns their words: their tasks, evidence, links to compétences and projet are
changed by the candidat of the parcours only (`may_change_own_words`). An accompagnateur
sees them, reviews and comments; they change nothing the candidat wrote. The same rule
holds for the pages and the API, because the services check it. (The Moodle sync writes
Moodle's tasks as the system, not through these services.)
"""

from __future__ import annotations

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.orm import Session, joinedload

from ..actor import Actor
from ..models import Course, Evidence, Membership, Parcours, Role, Tag, Task
from .errors import Forbidden, NotFound

ACCOMPAGNATEUR_ROLES = (Role.ACCOMPAGNATEUR, Role.COORDINATEUR)

NOT_FOUND_PARCOURS = "Ce parcours n’existe pas, ou vous ne pouvez pas le voir."
NOT_FOUND_TASK = "Cette activité n’existe pas, ou vous ne pouvez pas la voir."
NOT_FOUND_EVIDENCE = "Cette preuve n’existe pas, ou vous ne pouvez pas la voir."
NOT_FOUND_TAG = "Ce lien avec une compétence n’existe pas, ou vous ne pouvez pas le voir."


def visible_parcours_clause(actor: Actor):  # type: ignore[no-untyped-def]
    """A WHERE clause on Parcours (joined with Course) for what `actor` may see."""
    same_platform = Course.platform_id == actor.platform_id
    if actor.role is Role.COORDINATEUR:
        return same_platform
    if actor.role is Role.ACCOMPAGNATEUR:
        courses_held = select(Membership.course_id).where(
            Membership.person_id == actor.person_id,
            Membership.role.in_(ACCOMPAGNATEUR_ROLES),
        )
        return and_(
            same_platform,
            or_(Parcours.course_id == actor.course_id, Parcours.course_id.in_(courses_held)),
        )
    if actor.role is Role.CANDIDAT:
        return and_(
            same_platform,
            Parcours.person_id == actor.person_id,
            Parcours.course_id == actor.course_id,
        )
    return false()


def visible_parcours(actor: Actor) -> Select[Parcours]:
    return select(Parcours).join(Course, Course.id == Parcours.course_id).where(
        visible_parcours_clause(actor)
    )


def parcours_for(session: Session, actor: Actor, parcours_id: int) -> Parcours:
    """The parcours if `actor` may see it; NotFound otherwise."""
    parcours = session.scalars(visible_parcours(actor).where(Parcours.id == parcours_id)).first()
    if parcours is None:
        raise NotFound(NOT_FOUND_PARCOURS)
    return parcours


def task_for(
    session: Session, actor: Actor, task_id: int, *, include_deleted: bool = False
) -> Task:
    stmt = (
        select(Task)
        .join(Parcours, Parcours.id == Task.parcours_id)
        .join(Course, Course.id == Parcours.course_id)
        .where(Task.id == task_id, visible_parcours_clause(actor))
    )
    if not include_deleted:
        stmt = stmt.where(Task.deleted_at.is_(None))
    # Most callers need the parcours and its référentiels next: load them now.
    stmt = stmt.options(joinedload(Task.parcours).selectinload(Parcours.referentiels))
    task = session.scalars(stmt).first()
    if task is None:
        raise NotFound(NOT_FOUND_TASK)
    return task


def evidence_for(
    session: Session, actor: Actor, evidence_id: int, *, include_deleted: bool = False
) -> Evidence:
    stmt = (
        select(Evidence)
        .join(Task, Task.id == Evidence.task_id)
        .join(Parcours, Parcours.id == Task.parcours_id)
        .join(Course, Course.id == Parcours.course_id)
        .where(Evidence.id == evidence_id, Task.deleted_at.is_(None),
               visible_parcours_clause(actor))
    )
    if not include_deleted:
        stmt = stmt.where(Evidence.deleted_at.is_(None))
    evidence = session.scalars(stmt).first()
    if evidence is None:
        raise NotFound(NOT_FOUND_EVIDENCE)
    return evidence


def tag_for(session: Session, actor: Actor, tag_id: int) -> Tag:
    stmt = (
        select(Tag)
        .join(Task, Task.id == Tag.task_id)
        .join(Parcours, Parcours.id == Task.parcours_id)
        .join(Course, Course.id == Parcours.course_id)
        .where(Tag.id == tag_id, Task.deleted_at.is_(None), visible_parcours_clause(actor))
    )
    tag = session.scalars(stmt).first()
    if tag is None:
        raise NotFound(NOT_FOUND_TAG)
    return tag


OWN_WORDS_ONLY = (
    "Ce sont les mots du candidat : lui seul peut les changer. "
    "Vous pouvez donner votre avis sur ses compétences."
)


def may_change_own_words(actor: Actor, parcours: Parcours) -> bool:
    """Whether `actor` may write, change or remove what is written in this parcours.

    Only the candidat whose parcours it is: not an accompagnateur, not a coordinateur.
    """
    return actor.role is Role.CANDIDAT and parcours.person_id == actor.person_id


def require_own_words(actor: Actor, parcours: Parcours, message: str = OWN_WORDS_ONLY) -> None:
    """Forbidden unless `may_change_own_words` (call it after the visibility lookup)."""
    if not may_change_own_words(actor, parcours):
        raise Forbidden(message)


def require_accompagnateur(actor: Actor, message: str) -> None:
    """Forbidden unless the actor is an accompagnateur or a coordinateur."""
    if actor.role not in ACCOMPAGNATEUR_ROLES:
        raise Forbidden(message)


def holds_accompagnateur_role(session: Session, person_id: int, course_id: int) -> bool:
    """Whether this person is an accompagnateur (or coordinateur) in this course."""
    found = session.scalar(
        select(Membership.id).where(
            Membership.person_id == person_id,
            Membership.course_id == course_id,
            Membership.role.in_(ACCOMPAGNATEUR_ROLES),
        )
    )
    return found is not None


NOT_FOUND_COURSE = "Ce cours n’existe pas, ou vous ne pouvez pas le voir."


def course_followed_by(session: Session, actor: Actor, course_id: int) -> Course:
    """The course if the actor accompanies in it (a coordinateur: any course of their
    platform, as for parcours); NotFound otherwise — never a 403 that says it exists."""
    course = session.get(Course, course_id)
    if course is None or course.platform_id != actor.platform_id:
        raise NotFound(NOT_FOUND_COURSE)
    if actor.role is Role.COORDINATEUR:
        return course
    if actor.course_id == course.id and actor.role in ACCOMPAGNATEUR_ROLES:
        return course
    if not holds_accompagnateur_role(session, actor.person_id, course.id):
        raise NotFound(NOT_FOUND_COURSE)
    return course


def require_coordinateur(actor: Actor, message: str) -> None:
    """Forbidden unless the actor is the coordinateur (call it after the visibility lookup)."""
    if actor.role is not Role.COORDINATEUR:
        raise Forbidden(message)


def may_choose_course_referentiels(actor: Actor, accompagnateurs_allowed: bool) -> bool:
    """Who chooses the référentiels a course offers: the coordinateur; an accompagnateur
    too when the coordinateur allows it (the platform setting
    `accompagnateurs_choose_referentiels`). Never a candidat."""
    if actor.role is Role.COORDINATEUR:
        return True
    return actor.role is Role.ACCOMPAGNATEUR and accompagnateurs_allowed


# --- the accompagnateur's words on an activity, and the compétences they propose (issue 17) ---

ACCOMPAGNATEUR_ONLY_FEEDBACK = (
    "Seul un accompagnateur du cours commente une activité ou propose une compétence."
)
CANDIDAT_DECIDES = "C’est le candidat qui dit oui ou non à une compétence proposée."


def require_may_give_feedback(actor: Actor, parcours: Parcours) -> None:
    """Comment an activity, propose a compétence, mark it seen: an accompagnateur (or a
    coordinateur) who sees the parcours. Call after the visibility lookup."""
    require_accompagnateur(actor, ACCOMPAGNATEUR_ONLY_FEEDBACK)


def require_may_decide_proposal(actor: Actor, parcours: Parcours) -> None:
    """Accept or decline a proposed compétence: the candidat whose parcours it is."""
    require_own_words(actor, parcours, CANDIDAT_DECIDES)


def may_read_feedback(actor: Actor, parcours: Parcours) -> bool:
    """The comments and proposals of an activity are read by whoever sees the parcours:
    its candidat, and the accompagnateurs who follow it (visibility is checked first)."""
    return actor.role in ACCOMPAGNATEUR_ROLES or may_change_own_words(actor, parcours)
