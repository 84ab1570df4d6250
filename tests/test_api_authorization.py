"""Every endpoint, tried by the wrong person, the wrong course and the wrong platform.

The routes come from the OpenAPI document, so a new endpoint is tried as soon as it is
described (and test_api_openapi makes sure every route is described). Whatever belongs
to someone else answers 404, exactly like what does not exist, and stays unchanged.
"""

from __future__ import annotations

import io
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration import create_app
from integration.api.openapi import document
from integration.settings import Settings
from tests.support import postgres
from tests.support.database import migrate
from tests.support.parcours import Cast, committed, jpeg_bytes, login

SECRET = "TACHE-SECRETE-D-ALICE"
ATTACKERS = {
    "bob": "the wrong person (another candidat of the same course)",
    "eve": "a candidat of the wrong course",
    "dan": "an accompagnateur of the wrong course",
    "gina": "a candidat of the wrong platform",
    "fred": "a coordinateur of the wrong platform",
}
OWNED = {"parcours_id", "task_id", "evidence_id", "tag_id", "proposal_id"}
ROUTES = [
    (path, method, op)
    for path, ops in document()["paths"].items()
    for method, op in ops.items()
]
WRITES = [(path, method, op) for path, method, op in ROUTES if method != "get"]
_names = itertools.count(1)


def _bodies(world: dict[str, Any]) -> dict[str, Any]:
    """A valid body for each write: a refusal must come from the rights, not the input."""
    return {
        "setModalite": {"modalite": "concret"},
        "setReferentiels": {"referentiels": ["TP-APH@2008-08-13"]},
        "setProjet": {"projet": "Je veux être chef d'équipe."},
        "setJuryDate": {"jury_date": "2030-01-01"},
        "setAccompagnateurs": {"person_ids": [world["carla_id"]]},
        "setStatus": {"status": "pret_pour_le_jury"},
        "createTask": {"title": "Tâche ajoutée par un intrus"},
        "suggestForText": {"text": "je passe la serpillière"},
        "addReview": {"referentiel_id": "TP-APH", "competence_code": "C1", "verdict": "oui"},
        "updateTask": {"title": "Titre changé par un intrus"},
        "addTag": {"address": "TP-APH@2008-08-13#C2", "comment": "intrus"},
        "updateTag": {"comment": "intrus"},
        "updateEvidence": {"caption": "intrus"},
        "addComment": {"comment": "intrus"},
        "proposeTag": {"address": "TP-APH@2008-08-13#C3"},
    }


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, Any]]:
    """Alice's parcours with a task, a tag and a photo; the cast around her."""
    tmp = tmp_path_factory.mktemp("authz")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'reperes.sqlite3'}"
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        url = postgres.create_database(admin, f"reperes_authz_{os.getpid()}_{next(_names)}")
    migrate(url)
    app = create_app(Settings(var_dir=tmp / "var", database_url=url, secret_key="t",
                              testing=True))
    with committed(url) as session:
        cast = Cast.build(session)
    client = app.test_client()
    token = login(client, cast.actor("alice"))
    pid = cast.parcours["alice"].id
    headers = {"X-CSRF-Token": token}
    task = client.post(f"/api/v1/parcours/{pid}/tasks", json={"title": SECRET},
                       headers=headers).get_json()
    tag = client.post(f"/api/v1/tasks/{task['id']}/tags", headers=headers,
                      json={"address": "TP-APH@2008-08-13#C1", "comment": SECRET}).get_json()
    evidence = client.post(
        f"/api/v1/tasks/{task['id']}/evidence", headers=headers,
        data={"file": (io.BytesIO(jpeg_bytes()), "photo.jpg"), "caption": SECRET},
        content_type="multipart/form-data",
    ).get_json()
    # Her accompagnatrice's words on the task: a comment and a proposed compétence.
    carla = app.test_client()
    carla_headers = {"X-CSRF-Token": login(carla, cast.actor("carla"))}
    comment = carla.post(f"/api/v1/tasks/{task['id']}/comments", headers=carla_headers,
                         json={"comment": SECRET})
    assert comment.status_code == 201, comment.get_data(as_text=True)
    proposal = carla.post(f"/api/v1/tasks/{task['id']}/proposals", headers=carla_headers,
                          json={"address": "TP-APH@2008-08-13#C2"})
    assert proposal.status_code == 201, proposal.get_data(as_text=True)
    yield {
        "app": app, "cast": cast, "alice": client, "alice_token": token,
        "ids": {"parcours_id": pid, "task_id": task["id"], "tag_id": tag["id"],
                "evidence_id": evidence["id"], "proposal_id": proposal.get_json()["id"],
                "ref_id": "TP-APH", "version": "2008-08-13"},
        "carla_id": cast.people["carla"].id,
    }
    app.extensions["reperes"].engine.dispose()


def _snapshot(world: dict[str, Any]) -> str:
    """Everything Alice's parcours holds, as she sees it."""
    client, ids = world["alice"], world["ids"]
    parts = [
        client.get(f"/api/v1/parcours/{ids['parcours_id']}").get_json(),
        client.get(f"/api/v1/parcours/{ids['parcours_id']}/tasks").get_json(),
        client.get(f"/api/v1/parcours/{ids['parcours_id']}/reviews").get_json(),
        client.get(f"/api/v1/parcours/{ids['parcours_id']}/history").get_json(),
        client.get(f"/api/v1/tasks/{ids['task_id']}/evidence?deleted=true").get_json(),
        client.get(f"/api/v1/parcours/{ids['parcours_id']}/tasks?deleted=true").get_json(),
        client.get(f"/api/v1/tasks/{ids['task_id']}/comments").get_json(),
        client.get(f"/api/v1/tasks/{ids['task_id']}/proposals").get_json(),
    ]
    return json.dumps(parts, sort_keys=True)


def _call(client: Any, path: str, method: str, op: dict[str, Any], world: dict[str, Any],
          token: str) -> Any:
    url = "/api/v1" + path.format(**world["ids"])
    headers = {"X-CSRF-Token": token}
    if op["operationId"] in ("updateTask", "deleteTask"):
        headers["If-Match"] = '"1"'
    kwargs: dict[str, Any] = {"headers": headers}
    body = op.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in body:
        kwargs["data"] = {"file": (io.BytesIO(jpeg_bytes()), "photo.jpg")}
        kwargs["content_type"] = "multipart/form-data"
    elif "application/json" in body:
        kwargs["json"] = _bodies(world).get(op["operationId"], {})
    return client.open(url, method=method.upper(), **kwargs)


@pytest.mark.parametrize(("path", "method", "op"), ROUTES,
                         ids=[f"{m.upper()} {p}" for p, m, _ in ROUTES])
def test_nobody_else_reaches_alices_parcours(world: dict[str, Any], path: str, method: str,
                                            op: dict[str, Any]) -> None:
    before = _snapshot(world)
    owned = OWNED & set(op.get("parameters") and [
        p["name"] for p in op["parameters"] if p["in"] == "path"] or [])
    for name, who in ATTACKERS.items():
        client = world["app"].test_client()
        token = login(client, world["cast"].actor(name))
        response = _call(client, path, method, op, world, token)
        text = response.get_data(as_text=True)
        if owned:
            assert response.status_code == 404, f"{who}: {response.status_code} {text[:300]}"
            assert response.mimetype == "application/problem+json"
        else:
            assert response.status_code < 500, f"{who}: {text[:300]}"
        assert SECRET not in text, f"{who} read Alice's words through {method} {path}"
        assert "Alice" not in text, f"{who} read Alice's name through {method} {path}"
    assert _snapshot(world) == before, "Alice's parcours changed"


@pytest.mark.parametrize(("path", "method", "op"), WRITES,
                         ids=[f"{m.upper()} {p}" for p, m, _ in WRITES])
def test_every_write_needs_the_csrf_token(world: dict[str, Any], path: str, method: str,
                                          op: dict[str, Any]) -> None:
    before = _snapshot(world)
    client = world["alice"]
    for token in ("", "not-the-token"):
        response = _call(client, path, method, op, world, token)
        assert response.status_code == 403, response.get_data(as_text=True)[:300]
        assert response.get_json()["reason"] == "csrf"
    response = client.open(
        "/api/v1" + path.format(**world["ids"]), method=method.upper(),
        headers={"X-CSRF-Token": world["alice_token"], "Origin": "https://evil.example"},
        json={},
    )
    assert response.status_code == 403 and response.get_json()["reason"] == "origin"
    assert _snapshot(world) == before


def test_the_right_people_do_reach_it(world: dict[str, Any]) -> None:
    """The counterpart: the owner and her course's accompagnateur are let in."""
    ids = world["ids"]
    for name in ("alice", "carla"):
        client = world["app"].test_client()
        login(client, world["cast"].actor(name))
        assert client.get(f"/api/v1/tasks/{ids['task_id']}").status_code == 200
        assert client.get(f"/api/v1/evidence/{ids['evidence_id']}/file").status_code == 200


# The candidat owns their words: these writes are theirs alone (parcours/access.py).
OWN_WORDS = {"setProjet", "createTask", "updateTask", "deleteTask", "restoreTask", "addTag",
             "updateTag", "deleteTag", "uploadEvidence", "updateEvidence", "deleteEvidence",
             "restoreEvidence", "acceptProposal", "declineProposal"}
OWN_WORD_WRITES = [(path, method, op) for path, method, op in WRITES
                   if op["operationId"] in OWN_WORDS]


def test_every_write_of_the_candidats_words_is_described() -> None:
    assert {op["operationId"] for _, _, op in OWN_WORD_WRITES} == OWN_WORDS


@pytest.mark.parametrize(("path", "method", "op"), OWN_WORD_WRITES,
                         ids=[f"{m.upper()} {p}" for p, m, _ in OWN_WORD_WRITES])
def test_her_accompagnateur_sees_but_changes_nothing_alice_wrote(
        world: dict[str, Any], path: str, method: str, op: dict[str, Any]) -> None:
    """Carla may see Alice's words (so 403, not 404); she reviews, she never changes them."""
    before = _snapshot(world)
    client = world["app"].test_client()
    token = login(client, world["cast"].actor("carla"))
    response = _call(client, path, method, op, world, token)
    assert response.status_code == 403, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    assert _snapshot(world) == before, "Alice's words changed"


def test_a_candidat_may_not_review_or_move_the_steps(world: dict[str, Any]) -> None:
    before = _snapshot(world)
    client, token, pid = world["alice"], world["alice_token"], world["ids"]["parcours_id"]
    headers = {"X-CSRF-Token": token}
    review = client.post(f"/api/v1/parcours/{pid}/reviews", headers=headers,
                         json=_bodies(world)["addReview"])
    assert review.status_code == 403 and review.mimetype == "application/problem+json"
    status = client.put(f"/api/v1/parcours/{pid}/status", headers=headers,
                        json={"status": "pret_pour_le_jury"})
    assert status.status_code == 403
    assert _snapshot(world) == before


def test_same_origin_writes_pass(world: dict[str, Any], tmp_path: Path) -> None:
    client, token = world["alice"], world["alice_token"]
    response = client.post(
        f"/api/v1/parcours/{world['ids']['parcours_id']}/suggestions",
        headers={"X-CSRF-Token": token, "Origin": "http://localhost"},
        json={"text": "je lave les toilettes"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)


# --- the accompagnateur's words on an activity (issue 17) -------------------------------------

# An accompagnateur of the course comments, proposes a compétence, marks as seen.
ACCOMPAGNATEUR_ONLY = {"addComment", "proposeTag", "markTaskSeen"}
ACCOMPAGNATEUR_WRITES = [(path, method, op) for path, method, op in WRITES
                         if op["operationId"] in ACCOMPAGNATEUR_ONLY]


def test_every_write_of_the_accompagnateur_is_described() -> None:
    assert {op["operationId"] for _, _, op in ACCOMPAGNATEUR_WRITES} == ACCOMPAGNATEUR_ONLY


@pytest.mark.parametrize(("path", "method", "op"), ACCOMPAGNATEUR_WRITES,
                         ids=[f"{m.upper()} {p}" for p, m, _ in ACCOMPAGNATEUR_WRITES])
def test_the_candidat_reads_but_does_not_comment_her_own_activity(
        world: dict[str, Any], path: str, method: str, op: dict[str, Any]) -> None:
    """Alice sees her task (so 403, not 404); the accompagnateur's words are theirs."""
    before = _snapshot(world)
    response = _call(world["alice"], path, method, op, world, world["alice_token"])
    assert response.status_code == 403, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    assert _snapshot(world) == before


def test_alice_and_her_accompagnatrice_read_the_comments_and_proposals(
        world: dict[str, Any]) -> None:
    ids = world["ids"]
    for name in ("alice", "carla"):
        client = world["app"].test_client()
        login(client, world["cast"].actor(name))
        comments = client.get(f"/api/v1/tasks/{ids['task_id']}/comments")
        assert comments.status_code == 200
        assert [c["comment"] for c in comments.get_json()["comments"]] == [SECRET]
        assert comments.get_json()["comments"][0]["author"]["name"] == "Carla"
        proposals = client.get(f"/api/v1/tasks/{ids['task_id']}/proposals").get_json()
        assert [(p["address"], p["status"]) for p in proposals["proposals"]] == [
            ("TP-APH@2008-08-13#C2", "pending")]


def _propose(world: dict[str, Any], address: str) -> int:
    carla = world["app"].test_client()
    token = login(carla, world["cast"].actor("carla"))
    made = carla.post(f"/api/v1/tasks/{world['ids']['task_id']}/proposals",
                      headers={"X-CSRF-Token": token}, json={"address": address})
    assert made.status_code == 201, made.get_data(as_text=True)
    return int(made.get_json()["id"])


def test_a_candidat_cannot_accept_a_proposal_on_another_candidats_activity(
        world: dict[str, Any]) -> None:
    proposal_id = _propose(world, "TP-APH@2008-08-13#C4")
    before = _snapshot(world)
    bob = world["app"].test_client()
    token = login(bob, world["cast"].actor("bob"))
    for verb in ("accept", "decline"):
        response = bob.post(f"/api/v1/proposals/{proposal_id}/{verb}",
                            headers={"X-CSRF-Token": token})
        assert response.status_code == 404, response.get_data(as_text=True)
        assert SECRET not in response.get_data(as_text=True)
    # A proposal that does not exist answers the same.
    missing = bob.post("/api/v1/proposals/999999/accept", headers={"X-CSRF-Token": token})
    assert missing.status_code == 404
    assert missing.get_json()["detail"] == response.get_json()["detail"]
    assert _snapshot(world) == before, "Bob changed Alice's activity"
    # Alice herself accepts it: the link is hers; a second answer is refused.
    alice, headers = world["alice"], {"X-CSRF-Token": world["alice_token"]}
    accepted = alice.post(f"/api/v1/proposals/{proposal_id}/accept", headers=headers)
    assert accepted.status_code == 200, accepted.get_data(as_text=True)
    assert accepted.get_json()["status"] == "accepted"
    tags = alice.get(f"/api/v1/tasks/{world['ids']['task_id']}/tags").get_json()["tags"]
    made = [t for t in tags if t["competence_code"] == "C4"]
    assert len(made) == 1 and made[0]["created_by"] == world["cast"].people["alice"].id
    again = alice.post(f"/api/v1/proposals/{proposal_id}/decline", headers=headers)
    assert again.status_code == 409
    alice.delete(f"/api/v1/tags/{made[0]['id']}", headers=headers)


def test_a_declined_proposal_links_nothing(world: dict[str, Any]) -> None:
    proposal_id = _propose(world, "TP-APH@2008-08-13#C5")
    alice, headers = world["alice"], {"X-CSRF-Token": world["alice_token"]}
    declined = alice.post(f"/api/v1/proposals/{proposal_id}/decline", headers=headers)
    assert declined.status_code == 200 and declined.get_json()["status"] == "declined"
    tags = alice.get(f"/api/v1/tasks/{world['ids']['task_id']}/tags").get_json()["tags"]
    assert "C5" not in {t["competence_code"] for t in tags}


def test_an_accompagnateur_of_another_course_cannot_comment(world: dict[str, Any]) -> None:
    before = _snapshot(world)
    dan = world["app"].test_client()
    token = login(dan, world["cast"].actor("dan"))
    task_id = world["ids"]["task_id"]
    for path, body in ((f"/api/v1/tasks/{task_id}/comments", {"comment": "intrus"}),
                       (f"/api/v1/tasks/{task_id}/proposals",
                        {"address": "TP-APH@2008-08-13#C6"}),
                       (f"/api/v1/tasks/{task_id}/seen", None)):
        response = dan.post(path, headers={"X-CSRF-Token": token}, json=body)
        assert response.status_code == 404, (path, response.get_data(as_text=True))
        assert response.mimetype == "application/problem+json"
    listed = dan.get(f"/api/v1/tasks/{task_id}/comments")
    assert listed.status_code == 404 and SECRET not in listed.get_data(as_text=True)
    assert _snapshot(world) == before


def test_the_accompagnatrice_comments_proposes_and_marks_seen(world: dict[str, Any]) -> None:
    carla = world["app"].test_client()
    headers = {"X-CSRF-Token": login(carla, world["cast"].actor("carla"))}
    task_id = world["ids"]["task_id"]
    empty = carla.post(f"/api/v1/tasks/{task_id}/comments", headers=headers,
                       json={"comment": "   "})
    assert empty.status_code == 422 and empty.get_json()["field"] == "comment"
    twice = carla.post(f"/api/v1/tasks/{task_id}/proposals", headers=headers,
                       json={"address": "TP-APH@2008-08-13#C2"})
    assert twice.status_code == 409  # already proposed
    tagged = carla.post(f"/api/v1/tasks/{task_id}/proposals", headers=headers,
                        json={"address": "TP-APH@2008-08-13#C1"})
    assert tagged.status_code == 409  # already chosen by Alice
    seen = carla.post(f"/api/v1/tasks/{task_id}/seen", headers=headers)
    assert seen.status_code == 204
