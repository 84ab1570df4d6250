"""Suggested compétences for a task or a text, within the référentiels of a parcours."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from referentiels import Catalog, Referentiel

from ..actor import Actor
from ..models import Parcours, Tag
from .access import parcours_for, task_for
from .items import Item
from .suggest import suggest
from .text import clean_text

MAX_LIMIT = 20


@dataclass(frozen=True)
class Proposal:
    item: Item
    score: float
    already_tagged: bool = False


def _referentiels(parcours: Parcours, catalog: Catalog) -> list[Referentiel]:
    found = []
    for chosen in parcours.referentiels:
        ref = catalog.find(chosen.referentiel_id, chosen.referentiel_version)
        if ref is not None:
            found.append(ref)
    return found


def task_text(title: str, description: str = "", how: str = "", tools: str = "",
              where: str = "") -> str:
    return "\n".join(part for part in (title, description, how, tools, where) if part)


def suggest_for_text(
    session: Session,
    actor: Actor,
    parcours_id: int,
    text: object,
    *,
    catalog: Catalog,
    limit: int = 5,
) -> list[Proposal]:
    """Compétences of the parcours' référentiels that the words of `text` point to."""
    parcours = parcours_for(session, actor, parcours_id)
    words = clean_text(text, "text", required=True)
    limit = max(1, min(limit, MAX_LIMIT))
    return [Proposal(s.item, s.score) for s in suggest(_referentiels(parcours, catalog),
                                                        words, limit)]


def suggest_for_task(
    session: Session, actor: Actor, task_id: int, *, catalog: Catalog, limit: int = 5
) -> list[Proposal]:
    """Compétences the task's words point to; those already linked are marked."""
    task = task_for(session, actor, task_id)
    limit = max(1, min(limit, MAX_LIMIT))
    tagged = {
        (t.referentiel_id, t.referentiel_version, t.competence_code)
        for t in session.scalars(select(Tag).where(Tag.task_id == task.id))
    }
    text = task_text(task.title, task.description, task.how, task.tools, task.where)
    return [
        Proposal(
            s.item,
            s.score,
            (s.item.referentiel_id, s.item.referentiel_version, s.item.code) in tagged,
        )
        for s in suggest(_referentiels(task.parcours, catalog), text, limit)
    ]
