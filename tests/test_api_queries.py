"""The API's lists cost a fixed number of statements, whatever the number of rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from integration.models import Evidence, EvidenceKind, Role, Tag
from tests.support.parcours import (  # noqa: F401  (fixtures)
    APH,
    Cast,
    committed,
    login,
    make_membership,
    make_parcours,
    make_person,
    make_task,
)


@contextmanager
def counted(app: Any) -> Iterator[list[str]]:
    engine = app.extensions["reperes"].engine
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _statements(app: Any, client: Any, url: str) -> int:
    with counted(app) as seen:
        response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return len(seen)


def test_the_list_of_parcours_does_not_grow_with_the_candidats(
    api_app: Any, database_url: str, cast: Cast
) -> None:
    client = api_app.test_client()
    login(client, cast.actor("carla"))
    before = _statements(api_app, client, "/api/v1/parcours")
    with committed(database_url) as s:
        course = s.merge(cast.courses["X"])
        platform = s.merge(cast.platforms["A"])
        for n in range(8):
            person = make_person(s, platform, name=f"Candidat {n}")
            make_membership(s, course, person, Role.CANDIDAT)
            make_parcours(s, person, course, referentiels=[APH])
    after = _statements(api_app, client, "/api/v1/parcours")
    assert len(client.get("/api/v1/parcours").get_json()["parcours"]) == 10
    assert after == before


def test_the_list_of_tasks_does_not_grow_with_the_activities(
    api_app: Any, database_url: str, cast: Cast
) -> None:
    pid = cast.parcours["alice"].id
    client = api_app.test_client()
    login(client, cast.actor("alice"))

    def add(count: int) -> None:
        with committed(database_url) as s:
            parcours = s.merge(cast.parcours["alice"])
            for n in range(count):
                task = make_task(s, parcours, title=f"Activité {n}")
                s.add(Tag(task_id=task.id, referentiel_id=APH[0], referentiel_version=APH[1],
                          competence_code="C1"))
                s.add(Evidence(task_id=task.id, kind=EvidenceKind.PHOTO))

    add(1)
    before = _statements(api_app, client, f"/api/v1/parcours/{pid}/tasks")
    add(12)
    after = _statements(api_app, client, f"/api/v1/parcours/{pid}/tasks")
    assert len(client.get(f"/api/v1/parcours/{pid}/tasks").get_json()["tasks"]) == 13
    assert after == before
