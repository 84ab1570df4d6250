"""Issue 12, low: the candidat owns their words, one rule for the API, the pages and the
services (integration/parcours/access.py: may_change_own_words).

Before the fix, an accompagnateur could PATCH and DELETE a candidat's tasks and evidence
through the API while the pages refused. The accompagnateur may see them (so a refusal is
403, not 404), review and comment; they change nothing the candidat wrote.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from connectors.local_store import LocalFolderStore
from integration.db import transaction
from integration.models import Evidence, Role, Tag, Task
from integration.parcours import (
    add_review,
    add_tag,
    attach_evidence,
    create_task,
    delete_evidence,
    delete_task,
    remove_tag,
    restore_evidence,
    restore_task,
    set_caption,
    set_projet,
    update_tag_comment,
    update_task,
)
from integration.parcours.catalog import load_catalog
from integration.parcours.errors import Forbidden
from tests.support import parcours as support
from tests.support.parcours import APH, Cast, actor_of, jpeg_bytes, login

api_app = support.api_app
cast = support.cast
sessions = support.sessions

SECRET = "LES-MOTS-D-ALICE"


class Api:
    """A logged-in client that sends the CSRF token with every write."""

    def __init__(self, app: Any, actor: Any) -> None:
        self.client = app.test_client()
        self.token = login(self.client, actor)

    def __call__(self, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"X-CSRF-Token": self.token, **kwargs.pop("headers", {})}
        return self.client.open("/api/v1" + url, method=method, headers=headers, **kwargs)


def _alices_words(api_app: Any, cast: Cast) -> tuple[Api, dict[str, int]]:
    alice = Api(api_app, cast.actor("alice"))
    pid = cast.parcours["alice"].id
    task = alice("POST", f"/parcours/{pid}/tasks", json={"title": SECRET}).get_json()
    tag = alice("POST", f"/tasks/{task['id']}/tags",
                json={"address": "TP-APH@2008-08-13#C1", "comment": SECRET}).get_json()
    evidence = alice("POST", f"/tasks/{task['id']}/evidence",
                     data={"file": (io.BytesIO(jpeg_bytes()), "photo.jpg"), "caption": SECRET},
                     content_type="multipart/form-data").get_json()
    return alice, {"parcours": pid, "task": task["id"], "tag": tag["id"],
                   "evidence": evidence["id"]}


def _snapshot(alice: Api, ids: dict[str, int]) -> str:
    parts = [
        alice("GET", f"/parcours/{ids['parcours']}").get_json(),
        alice("GET", f"/parcours/{ids['parcours']}/tasks?deleted=true").get_json(),
        alice("GET", f"/tasks/{ids['task']}").get_json(),
        alice("GET", f"/tasks/{ids['task']}/tags").get_json(),
        alice("GET", f"/tasks/{ids['task']}/evidence?deleted=true").get_json(),
    ]
    return json.dumps(parts, sort_keys=True)


def _refused(response: Any) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code == 403, f"{response.status_code} {text[:300]}"
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 403 and "candidat" in body["detail"]


def _accompagnateurs(cast: Cast) -> dict[str, Any]:
    """Alice's accompagnateur, and a coordinateur of her platform: both see her parcours."""
    return {
        "accompagnateur": cast.actor("carla"),
        "coordinateur": actor_of(cast.people["carla"], cast.courses["X"], Role.COORDINATEUR),
    }


def test_accompagnateur_cannot_edit_or_delete_a_candidats_task_through_the_api(
    api_app: Any, cast: Cast
) -> None:
    alice, ids = _alices_words(api_app, cast)
    before = _snapshot(alice, ids)
    for who, actor in _accompagnateurs(cast).items():
        other = Api(api_app, actor)
        # They may see the task: a refusal to change it is 403, not 404.
        assert other("GET", f"/tasks/{ids['task']}").status_code == 200, who
        _refused(other("PATCH", f"/tasks/{ids['task']}", json={"title": "Changé"},
                       headers={"If-Match": '"1"'}))
        _refused(other("DELETE", f"/tasks/{ids['task']}", headers={"If-Match": '"1"'}))
        _refused(other("POST", f"/tasks/{ids['task']}/restore"))
        _refused(other("POST", f"/parcours/{ids['parcours']}/tasks",
                       json={"title": "Écrit par un autre"}))
        _refused(other("POST", f"/tasks/{ids['task']}/tags",
                       json={"address": "TP-APH@2008-08-13#C2"}))
        _refused(other("PATCH", f"/tags/{ids['tag']}", json={"comment": "Changé"}))
        _refused(other("DELETE", f"/tags/{ids['tag']}"))
        _refused(other("PUT", f"/parcours/{ids['parcours']}/projet",
                       json={"projet": "Changé"}))
    assert _snapshot(alice, ids) == before


def test_accompagnateur_cannot_edit_or_delete_a_candidats_evidence_through_the_api(
    api_app: Any, cast: Cast
) -> None:
    alice, ids = _alices_words(api_app, cast)
    before = _snapshot(alice, ids)
    for who, actor in _accompagnateurs(cast).items():
        other = Api(api_app, actor)
        assert other("GET", f"/evidence/{ids['evidence']}").status_code == 200, who
        _refused(other("PATCH", f"/evidence/{ids['evidence']}", json={"caption": "Changé"}))
        _refused(other("DELETE", f"/evidence/{ids['evidence']}"))
        _refused(other("POST", f"/evidence/{ids['evidence']}/restore"))
        _refused(other("POST", f"/tasks/{ids['task']}/evidence",
                       data={"file": (io.BytesIO(jpeg_bytes()), "autre.jpg")},
                       content_type="multipart/form-data"))
    assert _snapshot(alice, ids) == before
    # The accompagnateur still reviews: that is their own word.
    review = Api(api_app, cast.actor("carla"))(
        "POST", f"/parcours/{ids['parcours']}/reviews",
        json={"referentiel_id": "TP-APH", "competence_code": "C1", "verdict": "oui"})
    assert review.status_code == 201, review.get_data(as_text=True)


def test_accompagnateur_cannot_change_a_candidats_words_on_the_pages_either(
    api_app: Any, cast: Cast
) -> None:
    alice, ids = _alices_words(api_app, cast)
    before = _snapshot(alice, ids)
    carla = Api(api_app, cast.actor("carla"))
    for path in (f"/moi/activites/{ids['task']}/retirer",
                 f"/moi/preuves/{ids['evidence']}/retirer",
                 f"/moi/liens/{ids['tag']}/retirer",
                 f"/moi/activites/{ids['task']}/competences"):
        response = carla.client.post(path, data={"csrf_token": carla.token,
                                                 "referentiel_id": "TP-APH",
                                                 "competence_code": "C2"})
        assert response.status_code == 403, (path, response.status_code)
    assert _snapshot(alice, ids) == before


def test_accompagnateur_cannot_edit_or_delete_a_candidats_task_and_evidence_through_the_service(
    sessions: Any, tmp_path: Any
) -> None:
    store = LocalFolderStore(tmp_path / "files")
    with transaction(sessions) as s:
        world = Cast.build(s)
    alice, carla = world.actor("alice"), world.actor("carla")
    coordinateur = actor_of(world.people["carla"], world.courses["X"], Role.COORDINATEUR)
    pid = world.parcours["alice"].id
    with transaction(sessions) as s:
        task = create_task(s, alice, pid, {"title": SECRET})
        tag, _ = add_tag(s, alice, task.id, referentiel_id=APH[0], competence_code="C1",
                         comment=SECRET, catalog=load_catalog(s, platform_id=None))
        evidence = attach_evidence(s, alice, store, task.id, jpeg_bytes(), caption=SECRET)
        ids = (task.id, tag.id, evidence.id)
    task_id, tag_id, evidence_id = ids
    attempts = {
        "update_task": lambda s, who: update_task(s, who, task_id, {"title": "Changé"}),
        "delete_task": lambda s, who: delete_task(s, who, task_id),
        "restore_task": lambda s, who: restore_task(s, who, task_id),
        "create_task": lambda s, who: create_task(s, who, pid, {"title": "Autre"}),
        "set_caption": lambda s, who: set_caption(s, who, evidence_id, "Changé"),
        "delete_evidence": lambda s, who: delete_evidence(s, who, evidence_id),
        "restore_evidence": lambda s, who: restore_evidence(s, who, evidence_id),
        "attach_evidence": lambda s, who: attach_evidence(s, who, store, task_id,
                                                          jpeg_bytes()),
        "add_tag": lambda s, who: add_tag(
            s, who, task_id, referentiel_id=APH[0], competence_code="C2",
            catalog=load_catalog(s, platform_id=None)),
        "update_tag_comment": lambda s, who: update_tag_comment(s, who, tag_id, "Changé"),
        "remove_tag": lambda s, who: remove_tag(s, who, tag_id),
        "set_projet": lambda s, who: set_projet(s, who, pid, "Changé"),
    }
    for who in (carla, coordinateur):
        for name, attempt in attempts.items():
            with pytest.raises(Forbidden), transaction(sessions) as s:
                attempt(s, who)
                pytest.fail(f"{who.role.value} could {name}")
    with transaction(sessions) as s:
        # Nothing changed; the accompagnateur's own act, the review, still works.
        assert s.get(Task, task_id).title == SECRET and s.get(Task, task_id).deleted_at is None
        assert s.get(Evidence, evidence_id).caption == SECRET
        assert s.get(Tag, tag_id).comment == SECRET
        add_review(s, carla, pid, referentiel_id=APH[0], competence_code="C1", verdict="oui",
                   catalog=load_catalog(s, platform_id=None))
        # And the candidat keeps every right over their own words.
        update_task(s, alice, task_id, {"title": "La plonge"})
        set_caption(s, alice, evidence_id, "Le couloir")
