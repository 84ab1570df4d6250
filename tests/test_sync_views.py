"""The mapping pages and the runs page: access, CSRF, what they show and save."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from integration import create_app
from integration.actor import Actor
from integration.models import ActivityMapping, Course, Membership, Person, Role, SyncRun
from integration.settings import Settings
from tests.test_sync_support import (  # noqa: F401  (fixtures)
    DAY1,
    REF,
    World,
    fake_moodle_fixture,
    fast_client,
    snapshot,
    world_fixture,
)


@pytest.fixture
def web(world: World, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        Settings(var_dir=tmp_path / "web", database_url=world.database_url, secret_key="t",
                 testing=True, outbound_allow="127.0.0.0/8")
    )
    app.extensions["reperes"].extras["moodle_page_client_factory"] = fast_client
    yield app
    app.extensions["reperes"].engine.dispose()


def as_actor(client: FlaskClient, actor: Actor) -> None:
    from tests.support.parcours import sign_in

    sign_in(client, actor)


def actor(world: World, name: str, role: Role, course_id: int | None = None) -> Actor:
    return Actor(person_id=world.people[name], platform_id=world.platform_id,
                 course_id=course_id or world.course_id, role=role, deployment_id="1")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the form carries no CSRF token"
    return found.group(1)


def other_course_accompagnateur(world: World) -> Actor:
    """Dan, accompagnateur of another course of the same platform."""
    with world.sessions.begin() as session:
        course = Course(platform_id=world.platform_id, context_id="77", title="Autre")
        session.add(course)
        session.flush()
        dan = Person(platform_id=world.platform_id, sub="77", name="Dan")
        session.add(dan)
        session.flush()
        session.add(Membership(course_id=course.id, person_id=dan.id,
                               role=Role.ACCOMPAGNATEUR, launched=True))
        world.people["dan"] = dan.id
        return actor(world, "dan", Role.ACCOMPAGNATEUR, course.id)


def test_the_accompagnateur_sees_the_modules_and_their_competences(
    web: Flask, world: World
) -> None:
    world.fake.link_competency(4, 40, "Entretenir les sols", "C5")
    client = web.test_client()
    as_actor(client, actor(world, "claire", Role.ACCOMPAGNATEUR))

    page = client.get(f"/sync/courses/{world.course_id}/modules")

    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert '<html lang="fr">' in html
    for name in ("Présentation", "Livret 1", "Quiz entretien", "Forum"):
        assert name in html
    assert "C1 –" in html and "C4 –" in html  # stored links
    assert "À confirmer. Moodle propose" in html and "C5 –" in html  # Forum's proposal
    assert "Accepter toutes les propositions de Moodle" in html
    assert f"/sync/courses/{world.course_id}/modules/4" in html


def test_the_module_page_proposes_moodle_links_checked_and_saves_the_choice(
    web: Flask, world: World
) -> None:
    world.fake.link_competency(4, 40, "Entretenir les sols", "C5")
    client = web.test_client()
    as_actor(client, actor(world, "claire", Role.ACCOMPAGNATEUR))
    url = f"/sync/courses/{world.course_id}/modules/4"

    page = client.get(url)

    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "<fieldset>" in html and "<legend>" in html
    assert html.count('type="checkbox"') == 6
    checked = re.findall(r'value="([^"]+)"\s+id="[^"]+" checked', html)
    assert checked == [f"{REF[0]}@{REF[1]}#C5"]
    assert "proposé par Moodle" in html
    for label_for in re.findall(r'<label class="choice" for="([^"]+)"', html):
        assert f'id="{label_for}"' in html  # every box has its label

    saved = client.post(url, data={
        "csrf_token": csrf_of(html),
        "competence": [f"{REF[0]}@{REF[1]}#C5", f"{REF[0]}@{REF[1]}#C6"],
    })

    assert saved.status_code == 303
    assert saved.headers["Location"].endswith(f"/sync/courses/{world.course_id}/modules")
    with world.sessions() as session:
        rows = session.scalars(
            select(ActivityMapping).where(ActivityMapping.moodle_cmid == 4)
        ).all()
    assert sorted(r.competence_code for r in rows) == ["C5", "C6"]
    assert {r.module_name for r in rows} == {"Forum"}
    assert {r.created_by_id for r in rows} == {world.people["claire"]}
    after = client.get(f"/sync/courses/{world.course_id}/modules").get_data(as_text=True)
    assert "C’est enregistré" in after


def test_unticking_everything_removes_the_links(web: Flask, world: World) -> None:
    client = web.test_client()
    as_actor(client, actor(world, "claire", Role.ACCOMPAGNATEUR))
    url = f"/sync/courses/{world.course_id}/modules/2"
    html = client.get(url).get_data(as_text=True)
    assert len(re.findall(r'id="[^"]+" checked', html)) == 2  # C2 and C4, stored
    assert client.post(url, data={"csrf_token": csrf_of(html)}).status_code == 303
    with world.sessions() as session:
        assert session.scalars(
            select(ActivityMapping).where(ActivityMapping.moodle_cmid == 2)
        ).all() == []


def test_accepting_all_proposals(web: Flask, world: World) -> None:
    world.fake.link_competency(4, 40, "Entretenir les sols", "C5")
    client = web.test_client()
    as_actor(client, actor(world, "claire", Role.ACCOMPAGNATEUR))
    html = client.get(f"/sync/courses/{world.course_id}/modules").get_data(as_text=True)
    done = client.post(f"/sync/courses/{world.course_id}/proposals",
                       data={"csrf_token": csrf_of(html)})
    assert done.status_code == 303
    with world.sessions() as session:
        codes = session.scalars(
            select(ActivityMapping.competence_code).where(ActivityMapping.moodle_cmid == 4)
        ).all()
    assert codes == ["C5"]


def test_a_refused_moodle_proposal_is_not_proposed_again_until_ticked(
    web: Flask, world: World
) -> None:
    world.fake.link_competency(4, 40, "Entretenir les sols", "C5")
    world.fake.link_competency(4, 41, "C6")
    client = web.test_client()
    as_actor(client, actor(world, "claire", Role.ACCOMPAGNATEUR))
    url = f"/sync/courses/{world.course_id}/modules/4"
    html = client.get(url).get_data(as_text=True)
    c5, c6 = f"{REF[0]}@{REF[1]}#C5", f"{REF[0]}@{REF[1]}#C6"
    assert re.findall(r'value="([^"]+)"\s+id="[^"]+" checked', html) == [c5, c6]

    kept = client.post(url, data={"csrf_token": csrf_of(html), "competence": [c5]})
    assert kept.status_code == 303
    emptied = client.post(url, data={"csrf_token": csrf_of(html)})  # C5 unticked too
    assert emptied.status_code == 303

    def statuses() -> dict[str, str]:
        with world.sessions() as session:
            rows = session.scalars(
                select(ActivityMapping).where(ActivityMapping.moodle_cmid == 4)
            ).all()
        return {r.competence_code: r.status for r in rows}

    assert statuses() == {"C5": "rejected", "C6": "rejected"}
    listing = client.get(f"/sync/courses/{world.course_id}/modules").get_data(as_text=True)
    assert "À confirmer" not in listing
    page = client.get(url).get_data(as_text=True)
    assert re.findall(r'id="[^"]+" checked', page) == []
    assert "Moodle propose les compétences cochées" not in page
    assert page.count("proposé par Moodle, écarté") == 2
    accepted = client.post(f"/sync/courses/{world.course_id}/proposals",
                           data={"csrf_token": csrf_of(page)})
    assert accepted.status_code == 303
    assert "Il n’y avait rien à accepter" in client.get(
        f"/sync/courses/{world.course_id}/modules").get_data(as_text=True)

    again = client.post(url, data={"csrf_token": csrf_of(page), "competence": [c6]})

    assert again.status_code == 303
    assert statuses() == {"C5": "rejected", "C6": "confirmed"}


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_a_post_without_the_session_token_is_refused(
    web: Flask, world: World, token: str | None
) -> None:
    client = web.test_client()
    as_actor(client, actor(world, "claire", Role.ACCOMPAGNATEUR))
    client.get(f"/sync/courses/{world.course_id}/modules/4")  # the session has a token now
    before = snapshot(world.sessions)
    data: dict[str, Any] = {"competence": [f"{REF[0]}@{REF[1]}#C1"]}
    if token is not None:
        data["csrf_token"] = token
    refused = client.post(f"/sync/courses/{world.course_id}/modules/4", data=data)
    assert refused.status_code == 400
    refused = client.post(f"/sync/courses/{world.course_id}/proposals", data=data)
    assert refused.status_code == 400
    assert snapshot(world.sessions) == before


def test_a_post_from_another_site_is_refused(web: Flask, world: World) -> None:
    client = web.test_client()
    as_actor(client, actor(world, "claire", Role.ACCOMPAGNATEUR))
    html = client.get(f"/sync/courses/{world.course_id}/modules/4").get_data(as_text=True)
    refused = client.post(
        f"/sync/courses/{world.course_id}/modules/4",
        data={"csrf_token": csrf_of(html)},
        headers={"Origin": "https://evil.example.com"},
    )
    assert refused.status_code == 403


def test_a_choice_outside_the_course_is_refused(web: Flask, world: World) -> None:
    client = web.test_client()
    as_actor(client, actor(world, "claire", Role.ACCOMPAGNATEUR))
    url = f"/sync/courses/{world.course_id}/modules/4"
    html = client.get(url).get_data(as_text=True)
    refused = client.post(url, data={"csrf_token": csrf_of(html),
                                     "competence": ["TP-AM@2014-02-23#1.1"]})
    assert refused.status_code == 422
    assert "n’est pas proposée dans ce cours" in refused.get_data(as_text=True)
    assert client.post(url, data={"csrf_token": csrf_of(html),
                                  "competence": ["garbage"]}).status_code == 400


def test_a_module_outside_the_moodle_course_is_not_found(web: Flask, world: World) -> None:
    client = web.test_client()
    as_actor(client, actor(world, "claire", Role.ACCOMPAGNATEUR))
    assert client.get(f"/sync/courses/{world.course_id}/modules/999").status_code == 404


def test_a_candidat_cannot_open_the_mapping(web: Flask, world: World) -> None:
    client = web.test_client()
    as_actor(client, actor(world, "amina", Role.CANDIDAT))
    assert client.get(f"/sync/courses/{world.course_id}/modules").status_code == 403
    assert client.get(f"/sync/courses/{world.course_id}/modules/1").status_code == 403
    assert client.post(f"/sync/courses/{world.course_id}/modules/1").status_code == 403


def test_another_courses_accompagnateur_finds_no_mapping_there(
    web: Flask, world: World
) -> None:
    client = web.test_client()
    as_actor(client, other_course_accompagnateur(world))
    assert client.get(f"/sync/courses/{world.course_id}/modules").status_code == 404
    assert client.get(f"/sync/courses/{world.course_id}/modules/1").status_code == 404
    html = client.get("/sync/courses/999/modules")
    assert html.status_code == 404


def test_without_a_launch_the_pages_ask_to_launch(web: Flask, world: World) -> None:
    client = web.test_client()
    assert client.get(f"/sync/courses/{world.course_id}/modules").status_code == 401
    assert client.get("/sync/runs").status_code == 401


def test_when_moodle_is_down_the_page_says_so_and_shows_what_is_stored(
    web: Flask, world: World
) -> None:
    world.fake.start_outage("503")
    client = web.test_client()
    as_actor(client, actor(world, "claire", Role.ACCOMPAGNATEUR))
    page = client.get(f"/sync/courses/{world.course_id}/modules")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Moodle ne répond pas" in html
    assert "Livret 1" in html  # from the stored links
    assert client.get(f"/sync/courses/{world.course_id}/modules/2").status_code == 200
    assert client.get(f"/sync/courses/{world.course_id}/modules/4").status_code == 503


def test_the_coordinateur_sees_the_last_runs_and_their_errors(web: Flask, world: World) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    world.run()
    world.fake.inject_error("core_enrol_get_enrolled_users", "nopermissions", "No permission")
    world.run()
    client = web.test_client()
    as_actor(client, actor(world, "claire", Role.COORDINATEUR))

    page = client.get("/sync/runs")

    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "terminée, sans erreur" in html
    assert "échec" in html and "nopermissions" in html
    assert "1 activité(s) ajoutée(s)" in html
    with world.sessions() as session:
        assert len(session.scalars(select(SyncRun)).all()) == 2


def test_only_the_coordinateur_sees_the_runs(web: Flask, world: World) -> None:
    client = web.test_client()
    as_actor(client, actor(world, "claire", Role.ACCOMPAGNATEUR))
    assert client.get("/sync/runs").status_code == 403
    as_actor(client, actor(world, "amina", Role.CANDIDAT))
    assert client.get("/sync/runs").status_code == 403
