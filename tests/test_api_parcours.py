"""The JSON API in the users' stories, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest

from integration.api.openapi import document
from integration.models import Evidence, TaskSource
from tests.support import parcours as support
from tests.support.parcours import Cast, committed, jpeg_bytes, login, make_task

# Fixtures shared with other test modules.
api_app = support.api_app
cast = support.cast


class Api:
    """A logged-in client that sends the CSRF token with every write."""

    def __init__(self, app: Any, actor: Any) -> None:
        self.client = app.test_client()
        self.token = login(self.client, actor)

    def __getattr__(self, method: str) -> Any:
        def call(url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
            return getattr(self.client, method)(
                "/api/v1" + url, headers={"X-CSRF-Token": self.token, **(headers or {})},
                **kwargs)
        return call


@pytest.fixture
def alice(api_app, cast: Cast) -> Api:  # type: ignore[no-untyped-def]
    return Api(api_app, cast.actor("alice"))


@pytest.fixture
def carla(api_app, cast: Cast) -> Api:  # type: ignore[no-untyped-def]
    return Api(api_app, cast.actor("carla"))


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status and body["title"]
    return body


def test_candidat_tags_a_photo_to_a_competence(alice: Api, carla: Api) -> None:
    mine = alice.get("/parcours/mine").get_json()
    pid = mine["id"]
    assert mine["status"] == "en_preparation"
    task = alice.post(f"/parcours/{pid}/tasks", json={
        "title": "Je passe la serpillière dans les couloirs",
        "where": "À la mairie", "frequency": "tous les jours", "source": "workplace",
    })
    assert task.status_code == 201 and task.headers["ETag"] == '"1"'
    tid = task.get_json()["id"]
    suggestions = alice.get(f"/tasks/{tid}/suggestions").get_json()["suggestions"]
    assert suggestions[0]["address"] == "TP-APH@2008-08-13#C1"
    tag = alice.post(f"/tasks/{tid}/tags", json={"address": suggestions[0]["address"],
                                                 "comment": "Je le fais seule."})
    assert tag.status_code == 201
    again = alice.post(f"/tasks/{tid}/tags", json={"referentiel_id": "TP-APH",
                                                   "competence_code": "C1"})
    assert again.status_code == 200 and again.get_json()["comment"] == "Je le fais seule."
    photo = alice.post(f"/tasks/{tid}/evidence", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(jpeg_bytes()), "IMG_0001.JPG"),
                             "caption": "Le couloir"})
    assert photo.status_code == 201
    links = photo.get_json()["links"]
    preview = alice.get(links["preview"].removeprefix("/api/v1"))
    assert preview.status_code == 200 and preview.mimetype == "image/jpeg"
    assert preview.headers["X-Content-Type-Options"] == "nosniff"
    cached = alice.get(links["preview"].removeprefix("/api/v1"),
                       headers={"If-None-Match": preview.headers["ETag"]})
    assert cached.status_code == 304
    review = carla.post(f"/parcours/{pid}/reviews", json={
        "referentiel_id": "TP-APH", "competence_code": "C1", "verdict": "partiellement",
        "comment": "Il manque les vitres."})
    assert review.status_code == 201, review.get_json()
    assert review.get_json()["reviewer"]["name"] == "Carla"
    coverage = alice.get(f"/parcours/{pid}/coverage").get_json()
    item = coverage["referentiels"][0]["blocs"][0]["items"][0]
    assert item["code"] == "C1" and item["task_ids"] == [tid] and item["evidence_count"] == 1
    assert item["review"]["verdict"] == "partiellement"
    actions = [h["action"] for h in alice.get(f"/parcours/{pid}/history").get_json()["history"]]
    assert actions == ["review.added", "evidence.added", "tag.added", "task.created"]


def test_accompagnateur_leads_the_parcours_to_the_jury(alice: Api, carla: Api,
                                                       cast: Cast) -> None:
    pid = cast.parcours["alice"].id
    listed = carla.get("/parcours").get_json()["parcours"]
    assert {p["person"]["name"] for p in listed} == {"Alice", "Bob"}
    assert alice.put(f"/parcours/{pid}/modalite", json={"modalite": "concret"}).status_code == 200
    # Blocs that show nothing yet: the API asks the same confirmation as the page.
    unsure = carla.put(f"/parcours/{pid}/status", json={"status": "pret_pour_le_jury"})
    assert unsure.status_code == 422 and "confirme" in unsure.get_data(as_text=True)
    assert carla.get(f"/parcours/{pid}").get_json()["status"] == "en_preparation"
    ready = carla.put(f"/parcours/{pid}/status",
                      json={"status": "pret_pour_le_jury", "confirme": True})
    assert ready.status_code == 200 and ready.get_json()["status"] == "pret_pour_le_jury"
    skipped = carla.put(f"/parcours/{pid}/status", json={"status": "reconnu"})
    assert "ordre" in _problem(skipped, 409)["detail"]
    presented = carla.put(f"/parcours/{pid}/status",
                          json={"status": "presente", "jury_date": "2026-05-12"})
    assert presented.get_json()["jury_date"] == "2026-05-12"
    recognised = carla.put(f"/parcours/{pid}/status", json={
        "status": "reconnu",
        "recognitions": [{"referentiel_id": "TP-APH", "referentiel_version": "2008-08-13",
                          "code": "CCP1", "recognised": True}]})
    assert recognised.status_code == 200
    coverage = alice.get(f"/parcours/{pid}/coverage").get_json()
    assert coverage["referentiels"][0]["blocs"][0]["recognised"] is True
    assert coverage["referentiels"][0]["blocs"][1]["recognised"] is None
    back = carla.put(f"/parcours/{pid}/status", json={"status": "en_preparation"})
    assert back.get_json()["status"] == "en_preparation"


def test_stale_edits_are_refused_and_nothing_is_lost(alice: Api, cast: Cast) -> None:
    pid = cast.parcours["alice"].id
    tid = alice.post(f"/parcours/{pid}/tasks", json={"title": "Plonge"}).get_json()["id"]
    no_version = alice.patch(f"/tasks/{tid}", json={"title": "Sans version"})
    _problem(no_version, 428)
    first = alice.patch(f"/tasks/{tid}", json={"title": "La plonge"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    stale_header = alice.patch(f"/tasks/{tid}", json={"title": "Perdu ?"},
                               headers={"If-Match": '"1"'})
    assert _problem(stale_header, 412)["current_version"] == 2
    stale_body = alice.patch(f"/tasks/{tid}", json={"title": "Perdu ?", "version": 1})
    assert _problem(stale_body, 409)["current_version"] == 2
    assert alice.get(f"/tasks/{tid}").get_json()["title"] == "La plonge"
    gone = alice.delete(f"/tasks/{tid}")
    assert gone.status_code == 200 and gone.get_json()["deleted_at"]
    _problem(alice.get(f"/tasks/{tid}"), 404)
    assert alice.post(f"/tasks/{tid}/restore").get_json()["title"] == "La plonge"


@pytest.mark.parametrize(("body", "field"), [
    ({"title": ""}, "title"),
    ({"title": "\x00\x01\x02"}, "title"),
    ({"title": "x" * 301}, "title"),
    ({"title": "ok", "how": "y" * 10_001}, "how"),
    ({"title": "ok", "ended_on": "hier"}, "ended_on"),
    ({"title": "ok", "source": "moodle"}, "source"),
    ({"title": ["liste"]}, "title"),
    ({"titre": "mauvais nom"}, "titre"),
])
def test_bad_task_input_gets_a_clear_422(alice: Api, cast: Cast, body: dict[str, Any],
                                         field: str) -> None:
    pid = cast.parcours["alice"].id
    problem = _problem(alice.post(f"/parcours/{pid}/tasks", json=body), 422)
    assert problem["field"] == field and problem["detail"]
    assert alice.get(f"/parcours/{pid}/tasks").get_json()["tasks"] == []


def test_pasted_control_characters_are_removed(alice: Api, cast: Cast) -> None:
    pid = cast.parcours["alice"].id
    task = alice.post(f"/parcours/{pid}/tasks", json={
        "title": "\ufeffJe range\x0b les vêtements\u200b\x1b[0m",
        "description": "ligne 1\r\nligne 2\x07",
    })
    body = task.get_json()
    assert body["title"] == "Je range les vêtements[0m"
    assert body["description"] == "ligne 1\nligne 2"


def test_bad_requests_get_problems_and_change_nothing(alice: Api, carla: Api,
                                                      cast: Cast) -> None:
    pid = cast.parcours["alice"].id
    tid = alice.post(f"/parcours/{pid}/tasks", json={"title": "Ménage"}).get_json()["id"]
    before = alice.get(f"/tasks/{tid}").get_json()
    _problem(alice.post(f"/parcours/{pid}/tasks", data="title=x",
                        content_type="application/x-www-form-urlencoded"), 415)
    _problem(alice.post(f"/parcours/{pid}/tasks", data="{not json",
                        content_type="application/json"), 400)
    _problem(alice.post(f"/parcours/{pid}/tasks", json=["a list"]), 400)
    unknown = alice.post(f"/tasks/{tid}/tags", json={"address": "TP-APH@2008-08-13#C42"})
    assert _problem(unknown, 422)["field"] == "competence_code"
    other_version = alice.post(f"/tasks/{tid}/tags", json={"address": "TP-APH@2023-06-07#C1"})
    _problem(other_version, 422)
    _problem(alice.post(f"/tasks/{tid}/tags", json={"address": "pas une adresse"}), 422)
    _problem(alice.post(f"/tasks/{tid}/evidence", json={"file": "x"}), 415)
    _problem(alice.post(f"/tasks/{tid}/evidence", content_type="multipart/form-data",
                        data={"caption": "sans fichier"}), 422)
    liar = alice.post(f"/tasks/{tid}/evidence", content_type="multipart/form-data",
                      data={"file": (io.BytesIO(b"#!/bin/sh\nrm -rf /\n"), "photo.jpg")})
    assert "photo" in _problem(liar, 415)["detail"]
    _problem(carla.post(f"/parcours/{pid}/reviews", json={
        "referentiel_id": "TP-APH", "competence_code": "C1", "verdict": "bof"}), 422)
    _problem(alice.put(f"/parcours/{pid}/modalite", json={"modalite": "virtuel"}), 422)
    _problem(alice.put(f"/parcours/{pid}/referentiels", json={"referentiels": ["XX"]}), 422)
    _problem(alice.post(f"/parcours/{pid}/suggestions", json={"text": "  "}), 422)
    _problem(alice.get("/tasks/999999"), 404)
    _problem(alice.get("/referentiels/TP-APH/1999"), 404)
    after = alice.get(f"/tasks/{tid}").get_json()
    assert after == before
    assert alice.get(f"/tasks/{tid}/evidence").get_json()["evidence"] == []


def test_a_huge_upload_is_refused(alice: Api, cast: Cast) -> None:
    pid = cast.parcours["alice"].id
    tid = alice.post(f"/parcours/{pid}/tasks", json={"title": "Photos"}).get_json()["id"]
    huge = b"\xff\xd8\xff" + b"\0" * (26 * 1024 * 1024)
    response = alice.post(f"/tasks/{tid}/evidence", content_type="multipart/form-data",
                          data={"file": (io.BytesIO(huge), "big.jpg")})
    _problem(response, 413)


def test_evidence_pdf_is_downloaded_as_an_attachment(alice: Api, cast: Cast) -> None:
    pid = cast.parcours["alice"].id
    tid = alice.post(f"/parcours/{pid}/tasks", json={"title": "Attestation"}).get_json()["id"]
    pdf = b"%PDF-1.4\n%%EOF\n"
    created = alice.post(f"/tasks/{tid}/evidence", content_type="multipart/form-data",
                         data={"file": (io.BytesIO(pdf), "attestation.png")}).get_json()
    assert created["kind"] == "pdf" and created["links"]["preview"] is None
    full = alice.get(f"/evidence/{created['id']}/file")
    assert full.data == pdf and full.mimetype == "application/pdf"
    assert full.headers["Content-Disposition"].startswith("attachment")
    assert "attestation" not in full.headers["Content-Disposition"]
    _problem(alice.get(f"/evidence/{created['id']}/file?variant=preview"), 404)
    _problem(alice.get(f"/evidence/{created['id']}/file?variant=huge"), 422)
    assert alice.patch(f"/evidence/{created['id']}", json={"caption": "Mon attestation"}
                       ).get_json()["caption"] == "Mon attestation"
    assert alice.delete(f"/evidence/{created['id']}").status_code == 204
    assert alice.get(f"/tasks/{tid}/evidence").get_json()["evidence"] == []
    assert alice.post(f"/evidence/{created['id']}/restore").status_code == 200


def test_session_me_and_referentiels(alice: Api, cast: Cast) -> None:
    session = alice.get("/session").get_json()
    assert session["actor"]["role"] == "candidat" and session["csrf_token"] == alice.token
    me = alice.get("/me").get_json()
    assert me["person"]["name"] == "Alice" and me["course"]["title"] == "Cours X"
    refs = alice.get("/referentiels").get_json()["referentiels"]
    assert {"id": "TP-APH", "version": "2008-08-13"}.items() <= refs[
        [r["id"] for r in refs].index("TP-APH")].items() or any(
        r["id"] == "TP-APH" and r["version"] == "2008-08-13" for r in refs)
    detail = alice.get("/referentiels/TP-APH/2008-08-13").get_json()
    assert [i["code"] for i in detail["items"]] == ["C1", "C2", "C3", "C4", "C5", "C6"]


def test_suggestions_for_words_being_typed(alice: Api, cast: Cast) -> None:
    pid = cast.parcours["alice"].id
    found = alice.post(f"/parcours/{pid}/suggestions",
                       json={"text": "je shampouine la moquette avec la machine", "limit": 3})
    codes = [s["code"] for s in found.get_json()["suggestions"]]
    assert codes[0] == "C6" and len(codes) <= 3


def test_tag_comment_and_removal(alice: Api, cast: Cast) -> None:
    pid = cast.parcours["alice"].id
    tid = alice.post(f"/parcours/{pid}/tasks", json={"title": "Toilettes"}).get_json()["id"]
    tag = alice.post(f"/tasks/{tid}/tags", json={"address": "TP-APH@2008-08-13#C2"}).get_json()
    changed = alice.patch(f"/tags/{tag['id']}", json={"comment": "Avec du détartrant"})
    assert changed.get_json()["comment"] == "Avec du détartrant"
    assert alice.delete(f"/tags/{tag['id']}").status_code == 204
    assert alice.get(f"/tasks/{tid}/tags").get_json()["tags"] == []
    _problem(alice.delete(f"/tags/{tag['id']}"), 404)


def test_parcours_changes_carry_the_version(alice: Api, carla: Api, cast: Cast) -> None:
    pid = cast.parcours["alice"].id
    first = alice.put(f"/parcours/{pid}/projet", json={"projet": "Travailler en cuisine"})
    version = first.get_json()["version"]
    assert first.headers["ETag"] == f'"{version}"'
    stale = alice.put(f"/parcours/{pid}/projet", json={"projet": "Autre"},
                      headers={"If-Match": f'"{version - 1}"'})
    _problem(stale, 412)
    assert alice.get(f"/parcours/{pid}").get_json()["projet"] == "Travailler en cuisine"
    _problem(alice.put(f"/parcours/{pid}/jury-date", json={"jury_date": "2026-06-01"}), 403)
    assert carla.put(f"/parcours/{pid}/jury-date", json={"jury_date": "2026-06-01"}
                     ).get_json()["jury_date"] == "2026-06-01"
    carla_id = cast.people["carla"].id
    chosen = carla.put(f"/parcours/{pid}/accompagnateurs", json={"person_ids": [carla_id]})
    assert chosen.get_json()["accompagnateurs"] == [{"id": carla_id, "name": "Carla"}]
    refs = alice.put(f"/parcours/{pid}/referentiels",
                     json={"referentiels": [{"id": "TP-APH", "version": "2008-08-13"}, "TP-AR"]})
    assert [r["id"] for r in refs.get_json()["referentiels"]] == ["TP-APH", "TP-AR"]


def _described(schema_name: str) -> set[str]:
    """The properties the OpenAPI document gives a schema (through allOf and $ref)."""
    schemas = document()["components"]["schemas"]

    def walk(schema: dict[str, Any]) -> set[str]:
        if "$ref" in schema:
            return walk(schemas[schema["$ref"].rsplit("/", 1)[1]])
        found = set(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            found |= walk(part)
        return found

    return walk(schemas[schema_name])


def test_a_task_from_moodle_says_whether_moodle_still_counts_it_completed(
    alice: Api, cast: Cast, database_url: str
) -> None:
    completed_at = datetime(2026, 2, 25, 10, 0, tzinfo=UTC)
    with committed(database_url) as session:
        task = make_task(session, cast.parcours["alice"], title="Livret 1",
                         source=TaskSource.MOODLE, moodle_cmid=42,
                         moodle_completed=False, moodle_completed_at=completed_at)
        session.add(Evidence(task_id=task.id, kind="moodle",
                             caption="Module terminé le 25 février 2026"))
        tid = task.id

    found = alice.get(f"/tasks/{tid}").get_json()

    assert found["source"] == "moodle" and found["moodle_cmid"] == 42
    assert found["moodle_completed"] is False
    assert datetime.fromisoformat(found["moodle_completed_at"]) == completed_at
    (evidence,) = found["evidence"]
    assert evidence["kind"] == "moodle"
    assert evidence["links"] == {"full": None, "medium": None, "preview": None}
    assert set(found) <= _described("Task")
    assert set(evidence) <= _described("Evidence")
    mine = alice.post(f"/parcours/{cast.parcours['alice'].id}/tasks",
                      json={"title": "Plonge"}).get_json()
    assert (mine["moodle_cmid"], mine["moodle_completed"], mine["moodle_completed_at"]) == (
        None, None, None)
