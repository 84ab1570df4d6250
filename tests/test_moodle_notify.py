"""The candidat is told in Moodle (issue 17): an avis, the step « prêt pour le jury ».

Against the fake Moodle over real HTTP (tests/fake_moodle.py), answering
`core_message_send_instant_messages` as Moodle 4.3 does. The world is the sync's
(tests/test_sync_support.py): Amina is Moodle user 5 (LTI sub "5"), Claire her
accompagnatrice, the course is Moodle course 2. A refused message is logged for the
operator and never blocks the avis; without a Moodle connection nothing is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from integration import create_app
from integration.actor import Actor
from integration.models import Course, Modalite, Person, Platform, Review, Role
from integration.moodle import notify
from integration.settings import Settings
from tests.support.parcours import login, make_parcours
from tests.test_sync_cli import platform_cli
from tests.test_sync_support import (  # noqa: F401  (fixtures)
    REF,
    TOKEN,
    World,
    fake_moodle_fixture,
    world_fixture,
)

SEND = "core_message_send_instant_messages"


@pytest.fixture(name="app")
def app_fixture(world: World, tmp_path: Path) -> Iterator[Flask]:
    application = create_app(Settings(var_dir=tmp_path / "var", database_url=world.database_url,
                                      secret_key="t", testing=True,
                                      outbound_allow="127.0.0.0/8"))
    yield application
    application.extensions["reperes"].engine.dispose()


@pytest.fixture(name="parcours_id")
def parcours_fixture(world: World) -> int:
    with world.sessions.begin() as session:
        amina = session.get(Person, world.people["amina"])
        course = session.get(Course, world.course_id)
        assert amina is not None and course is not None
        amina.given_name = "Amina"
        return make_parcours(session, amina, course, referentiels=[REF],
                             modalite=Modalite.CONCRET).id


def _claire(world: World) -> Actor:
    return Actor(person_id=world.people["claire"], platform_id=world.platform_id,
                 course_id=world.course_id, role=Role.ACCOMPAGNATEUR, deployment_id="1")


def _give_avis(app: Flask, world: World, parcours_id: int, code: str = "C1") -> Any:
    client: FlaskClient = app.test_client()
    token = login(client, _claire(world))
    return client.post(
        f"/cours/candidats/{parcours_id}/competences/{REF[0]}/{REF[1]}/{code}",
        data={"csrf_token": token, "verdict": "oui", "comment": "Bien expliqué."})


def _reviews(world: World, parcours_id: int) -> int:
    with world.sessions() as session:
        return int(session.scalar(select(func.count(Review.id))
                                  .where(Review.parcours_id == parcours_id)) or 0)


def test_an_avis_sends_one_plain_message_to_the_candidats_moodle_user(
        app: Flask, world: World, parcours_id: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="integration.moodle.notify")
    saved = _give_avis(app, world, parcours_id)
    assert saved.status_code == 303, saved.get_data(as_text=True)[:300]
    assert _reviews(world, parcours_id) == 1
    calls = world.fake.calls_to(SEND)
    assert [c.outcome for c in calls] == ["ok"]
    assert len(world.fake.messages) == 1
    sent = world.fake.messages[0]
    assert sent["useridto"] == 5 and sent["useridfrom"] == world.fake.ws_user.id
    assert sent["textformat"] == 2  # plain text: nothing in it is read as HTML
    text = sent["text"]
    assert text.startswith("Bonjour Amina,")
    assert "Claire a donné son avis sur ce que vous faites." in text
    # The link back: the Moodle course where Repères opens.
    assert f"{world.fake.url}/course/view.php?id=2" in text
    assert "<" not in text and "TP-APH" not in text and "C1" not in text
    assert "Moodle message (avis) sent" in caplog.text
    assert TOKEN not in caplog.text


def test_the_jury_step_sends_its_own_message(app: Flask, world: World, parcours_id: int
                                             ) -> None:
    with app.app_context():
        assert notify.ready_for_jury(_claire(world), parcours_id) is True
    (sent,) = world.fake.messages
    assert sent["useridto"] == 5
    assert "Votre parcours est prêt pour le jury." in sent["text"]
    assert f"{world.fake.url}/course/view.php?id=2" in sent["text"]


@pytest.mark.parametrize("refusal", ["nopermissions", "accessexception"])
def test_a_refused_message_is_logged_and_never_blocks_the_avis(
        app: Flask, world: World, parcours_id: int, caplog: pytest.LogCaptureFixture,
        refusal: str) -> None:
    if refusal == "nopermissions":  # the token's user lacks moodle/site:sendmessage
        world.fake.can_send_messages = False
    else:  # the function is not in the token's external service
        world.fake.remove_function(SEND)
    caplog.set_level(logging.INFO, logger="integration.moodle.notify")
    saved = _give_avis(app, world, parcours_id)
    assert saved.status_code == 303, saved.get_data(as_text=True)[:300]
    assert _reviews(world, parcours_id) == 1, "the avis is kept"
    assert [c.outcome for c in world.fake.calls_to(SEND)] == [f"error:{refusal}"]
    assert world.fake.messages == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and refusal in warnings[0].getMessage()
    assert "(avis)" in warnings[0].getMessage() and TOKEN not in caplog.text
    # The next avis is saved too (one try each, never retried).
    assert _give_avis(app, world, parcours_id, "C2").status_code == 303
    assert _reviews(world, parcours_id) == 2
    assert len(world.fake.calls_to(SEND)) == 2


def test_a_candidat_moodle_does_not_know_is_logged(
        app: Flask, world: World, parcours_id: int, caplog: pytest.LogCaptureFixture) -> None:
    del world.fake.users[5]  # Moodle answers msgid -1 with its errormessage
    caplog.set_level(logging.INFO, logger="integration.moodle.notify")
    assert _give_avis(app, world, parcours_id).status_code == 303
    assert _reviews(world, parcours_id) == 1
    assert world.fake.messages == []
    assert "messagenotsent" in caplog.text and "doesn't exist" in caplog.text


def test_no_message_without_a_moodle_connection(
        app: Flask, world: World, parcours_id: int) -> None:
    with world.sessions.begin() as session:
        platform = session.get(Platform, world.platform_id)
        assert platform is not None
        platform.moodle_url = platform.moodle_token = None
    world.fake.reset_calls()
    assert _give_avis(app, world, parcours_id).status_code == 303
    assert _reviews(world, parcours_id) == 1
    assert world.fake.calls == [] and world.fake.messages == []
    with app.app_context():
        assert notify.ready_for_jury(_claire(world), parcours_id) is None


def test_the_check_lists_the_message_function_as_optional(world: World, tmp_path: Path
                                                          ) -> None:
    world.fake.remove_function(SEND)
    check = platform_cli(world, tmp_path, str(world.platform_id), "--check")
    assert check.exit_code == 0, check.output
    assert ("missing optional functions (Repères works without them): " + SEND) in check.output
    assert "connection works" in check.output


def test_the_api_tells_the_candidat_too(app: Flask, world: World, parcours_id: int) -> None:
    """An avis and the jury step through /api/v1 send the same messages as the pages."""
    client: FlaskClient = app.test_client()
    headers = {"X-CSRF-Token": login(client, _claire(world))}
    avis = client.post(f"/api/v1/parcours/{parcours_id}/reviews", headers=headers,
                       json={"referentiel_id": REF[0], "competence_code": "C1",
                             "verdict": "oui"})
    assert avis.status_code == 201, avis.get_data(as_text=True)
    ready = client.put(f"/api/v1/parcours/{parcours_id}/status", headers=headers,
                       json={"status": "pret_pour_le_jury", "confirme": True})
    assert ready.status_code == 200, ready.get_data(as_text=True)
    texts = [m["text"] for m in world.fake.messages]
    assert len(texts) == 2 and all(m["useridto"] == 5 for m in world.fake.messages)
    assert "a donné son avis" in texts[0] and "prêt pour le jury" in texts[1]
    # Another change of the parcours sends nothing more.
    date = client.put(f"/api/v1/parcours/{parcours_id}/jury-date", headers=headers,
                      json={"jury_date": "2030-01-01"})
    assert date.status_code == 200 and len(world.fake.messages) == 2
