"""Two writes at once never lose one: threads against the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tests.support import parcours as support
from tests.support.parcours import Cast, login

# Fixtures shared with other test modules.
api_app = support.api_app
cast = support.cast

THREADS = 6


def _at_once(app: Any, actor: Any, calls: list[Callable[[Any, dict[str, str]], Any]]) -> list[Any]:
    """Run each call in its own thread and client, all released together."""
    clients = []
    for _ in calls:
        client = app.test_client()
        clients.append((client, {"X-CSRF-Token": login(client, actor)}))
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        client, headers = clients[i]
        barrier.wait()
        try:
            results[i] = calls[i](client, headers)
        except BaseException as error:  # shown by the assertions below
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_tasks_written_at_once_are_all_kept(api_app, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    pid = cast.parcours["alice"].id
    calls = [
        (lambda c, h, i=i: c.post(f"/api/v1/parcours/{pid}/tasks", headers=h,
                                  json={"title": f"Tâche {i}"}))
        for i in range(THREADS)
    ]
    results = _at_once(api_app, cast.actor("alice"), calls)
    assert [r.status_code for r in results] == [201] * THREADS, results
    client = api_app.test_client()
    login(client, cast.actor("alice"))
    titles = {t["title"] for t in client.get(f"/api/v1/parcours/{pid}/tasks").get_json()["tasks"]}
    assert titles == {f"Tâche {i}" for i in range(THREADS)}


def test_tags_added_at_once_are_all_kept(api_app, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    pid = cast.parcours["alice"].id
    client = api_app.test_client()
    headers = {"X-CSRF-Token": login(client, cast.actor("alice"))}
    tid = client.post(f"/api/v1/parcours/{pid}/tasks", headers=headers,
                      json={"title": "Ménage"}).get_json()["id"]
    codes = ["C1", "C2", "C3", "C4", "C5", "C6"]
    calls = [
        (lambda c, h, code=code: c.post(f"/api/v1/tasks/{tid}/tags", headers=h,
                                        json={"address": f"TP-APH@2008-08-13#{code}"}))
        for code in codes
    ]
    # The same link twice at once too: one tag, two happy answers.
    calls += [lambda c, h: c.post(f"/api/v1/tasks/{tid}/tags", headers=h,
                                  json={"address": "TP-APH@2008-08-13#C1"})]
    results = _at_once(api_app, cast.actor("alice"), calls)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] + [201] * 6, results
    tags = client.get(f"/api/v1/tasks/{tid}/tags").get_json()["tags"]
    assert sorted(t["competence_code"] for t in tags) == codes


def test_one_of_two_concurrent_edits_wins_and_the_other_is_told(api_app, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    pid = cast.parcours["alice"].id
    client = api_app.test_client()
    headers = {"X-CSRF-Token": login(client, cast.actor("alice"))}
    tid = client.post(f"/api/v1/parcours/{pid}/tasks", headers=headers,
                      json={"title": "Plonge"}).get_json()["id"]
    calls = [
        (lambda c, h, i=i: c.patch(f"/api/v1/tasks/{tid}", headers={**h, "If-Match": '"1"'},
                                   json={"title": f"Version {i}"}))
        for i in range(THREADS)
    ]
    results = _at_once(api_app, cast.actor("alice"), calls)
    statuses = [r.status_code for r in results]
    assert statuses.count(200) == 1 and statuses.count(412) == THREADS - 1, statuses
    winner = results[statuses.index(200)].get_json()["title"]
    task = client.get(f"/api/v1/tasks/{tid}").get_json()
    assert task["title"] == winner and task["version"] == 2


def test_different_parcours_changes_at_once_are_all_kept(api_app, cast: Cast) -> None:  # type: ignore[no-untyped-def]
    pid = cast.parcours["alice"].id
    calls = [
        lambda c, h: c.put(f"/api/v1/parcours/{pid}/modalite", headers=h,
                           json={"modalite": "abstrait"}),
        lambda c, h: c.put(f"/api/v1/parcours/{pid}/projet", headers=h,
                           json={"projet": "Devenir cuisinière"}),
        lambda c, h: c.put(f"/api/v1/parcours/{pid}/referentiels", headers=h,
                           json={"referentiels": ["TP-APH@2008-08-13", "TP-AR"]}),
        lambda c, h: c.post(f"/api/v1/parcours/{pid}/tasks", headers=h,
                            json={"title": "En même temps"}),
    ]
    results = _at_once(api_app, cast.actor("alice"), calls)
    assert [r.status_code for r in results] == [200, 200, 200, 201], [
        r.get_data(as_text=True) for r in results]
    client = api_app.test_client()
    login(client, cast.actor("alice"))
    parcours = client.get(f"/api/v1/parcours/{pid}").get_json()
    assert parcours["modalite"] == "abstrait"
    assert parcours["projet"] == "Devenir cuisinière"
    assert [r["id"] for r in parcours["referentiels"]] == ["TP-APH", "TP-AR"]
    assert parcours["task_count"] == 1
