"""Erasing a person costs a fixed number of statements, whatever their activities (issue 13).

At a network's scale an erasure must stay short (under 50 ms, tests/bench/bench_network.py):
the parcours' activities, their photos and tags are read in one query each, never one per
activity.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event

from connectors.local_store import LocalFolderStore
from integration import models as m
from integration.ops.privacy import erase_person
from tests.support import parcours as parcours_support
from tests.support.parcours import APH, Cast, make_task

sessions = parcours_support.sessions


def _activities(session, parcours: m.Parcours, count: int) -> None:  # type: ignore[no-untyped-def]
    for n in range(count):
        task = make_task(session, parcours, title=f"Je range la réserve ({n})")
        session.add(m.Evidence(task_id=task.id, kind="photo", storage_path=f"e/{task.id}.jpg",
                               original_name="photo.jpg", content_type="image/jpeg"))
        session.add(m.Tag(task_id=task.id, referentiel_id=APH[0], referentiel_version=APH[1],
                          competence_code="C1"))
    session.flush()


def _statements_to_erase(sessions, store, person_id: int) -> int:  # type: ignore[no-untyped-def]
    seen = [0]

    def count(*args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        seen[0] += 1

    with sessions() as session:
        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            erase_person(session, store, person_id)
            session.commit()
        finally:
            event.remove(engine, "before_cursor_execute", count)
    return seen[0]


def test_erasing_a_person_reads_their_activities_in_a_fixed_number_of_queries(
    sessions: Any, tmp_path: Path
) -> None:
    more = 12
    store = LocalFolderStore(tmp_path / "files")
    with sessions() as session:
        cast = Cast.build(session)
        _activities(session, cast.parcours["alice"], 1)
        _activities(session, cast.parcours["bob"], 1 + more)
        alice, bob = cast.people["alice"].id, cast.people["bob"].id
        session.commit()
    few = _statements_to_erase(sessions, store, alice)
    many = _statements_to_erase(sessions, store, bob)
    assert many == few, f"{more} more activities cost {many - few} more statements"
    with sessions() as session:
        assert session.get(m.Person, bob) is None
        assert session.query(m.Task).count() == 0
        assert session.query(m.Evidence).count() == 0
        assert session.query(m.Tag).count() == 0
