"""What the accompagnateur said, as the candidat reads it on the first screen and on each
activity: who looked at what, their words, and the step of the parcours (issue 15).

Read from the Review rows (a word per compétence), the accompagnateur's comments on an
activity (ActivityComment, issue 17) and what they opened (TaskSeen): a fixed number of
queries whatever the number of activities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Parcours, ParcoursStatus, Person, Review, Task

try:  # the accompagnateur's day (issue 17); pages degrade gracefully without it
    from ..models import ActivityComment, TaskSeen
except ImportError:  # pragma: no cover - depends on what is merged
    ActivityComment = None  # type: ignore[assignment,misc]
    TaskSeen = None  # type: ignore[assignment,misc]


@dataclass(frozen=True)
class StepWords:
    """The step of the parcours in plain words, and what happens next."""

    sentence: str
    next: str
    picto: str


def step_words(parcours: Parcours, who_said: str) -> StepWords:
    status = parcours.status
    if status is ParcoursStatus.PRET_POUR_LE_JURY:
        return StepWords(f"{who_said} a dit : votre dossier est prêt pour le jury.",
                         "Ensuite : on vous dira le jour du jury. Vous pouvez encore "
                         "ajouter des activités.", "jury")
    if status is ParcoursStatus.PRESENTE:
        return StepWords("Vous avez présenté votre dossier au jury.",
                         "Ensuite : le jury donne sa réponse. Vous la recevrez bientôt.",
                         "jury")
    if status is ParcoursStatus.RECONNU:
        return StepWords("Le jury a reconnu ce que vous savez faire. Bravo !",
                         "Ensuite : vous recevez une attestation. Parlez de la suite "
                         "avec votre accompagnateur.", "oui")
    return StepWords("Votre dossier est en préparation.",
                     "Ensuite : ajoutez ce que vous faites, avec des photos.", "modifier")


@dataclass
class Avis:
    """What the accompagnateurs did and said on this parcours."""

    names: list[str] = field(default_factory=list)
    seen_tasks: int = 0
    comments_by_task: dict[int, list[Any]] = field(default_factory=dict)
    reviews: int = 0
    step: StepWords | None = None

    @property
    def comments(self) -> int:
        return sum(len(c) for c in self.comments_by_task.values())

    @property
    def who(self) -> str:
        if not self.names:
            return "Votre accompagnateur"
        return " et ".join(self.names[:2])

    @property
    def anything(self) -> bool:
        return bool(self.seen_tasks or self.comments or self.reviews)


def _first_name(person: Person) -> str:
    return person.given_name or person.display_name.split(" ")[0]


def avis_for(db: Session, parcours: Parcours) -> Avis:
    """The accompagnateurs' traces on this parcours, in four queries."""
    names = [_first_name(a.person) for a in parcours.accompagnateurs]
    live = select(Task.id).where(Task.parcours_id == parcours.id, Task.deleted_at.is_(None))
    avis = Avis(names=names)
    if TaskSeen is not None:
        avis.seen_tasks = db.scalar(
            select(func.count(func.distinct(TaskSeen.task_id))).where(
                TaskSeen.task_id.in_(live), TaskSeen.person_id != parcours.person_id)
        ) or 0
    if ActivityComment is not None:
        for comment in db.scalars(select(ActivityComment).where(
                ActivityComment.parcours_id == parcours.id,
                ActivityComment.task_id.in_(live)).order_by(ActivityComment.id)):
            avis.comments_by_task.setdefault(comment.task_id, []).append(comment)
            name = (comment.author_name or "").split(" ")[0]
            if name and name not in avis.names:
                avis.names.append(name)
    avis.reviews = db.scalar(
        select(func.count(Review.id)).where(Review.parcours_id == parcours.id)) or 0
    if not avis.names:
        reviewer = db.scalar(select(Review.reviewer_name).where(
            Review.parcours_id == parcours.id).order_by(Review.id.desc()).limit(1))
        if reviewer:
            avis.names.append(reviewer.split(" ")[0])
    avis.step = step_words(parcours, avis.who)
    return avis


def comments_on(db: Session, task: Task) -> list[Any]:
    """The accompagnateur's words on one activity (none when issue 17's model is absent)."""
    if ActivityComment is None:
        return []
    return list(db.scalars(select(ActivityComment).where(
        ActivityComment.task_id == task.id).order_by(ActivityComment.id)))
