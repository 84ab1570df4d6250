"""The history of a parcours: what changed, by whom, when. Written by every service."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..actor import Actor
from ..models import HistoryEntry, Person
from .access import parcours_for

MAX_PAGE = 200


def record(session: Session, parcours_id: int, actor: Actor, action: str, **detail: Any) -> None:
    """Add one line to the parcours' history (in the caller's transaction)."""
    session.add(
        HistoryEntry(
            parcours_id=parcours_id, actor_id=actor.person_id, action=action, detail=detail
        )
    )


def history(
    session: Session,
    actor: Actor,
    parcours_id: int,
    *,
    limit: int = 50,
    before_id: int | None = None,
) -> list[tuple[HistoryEntry, str]]:
    """The latest entries first, each with the name of who made it."""
    parcours_for(session, actor, parcours_id)
    limit = max(1, min(limit, MAX_PAGE))
    stmt = (
        select(HistoryEntry, Person)
        .outerjoin(Person, Person.id == HistoryEntry.actor_id)
        .where(HistoryEntry.parcours_id == parcours_id)
        .order_by(HistoryEntry.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(HistoryEntry.id < before_id)
    return [
        (entry, person.display_name if person is not None else "")
        for entry, person in session.execute(stmt).all()
    ]
