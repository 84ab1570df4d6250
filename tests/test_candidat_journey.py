"""The candidat's journey without a browser (issue 15): drafts kept on the server, a body too
big for the server that still costs no words, voice notes, and « Continuer sur mon
téléphone » — with the attacker's tests beside each (another person, another origin, a
spent or expired code, a session that has ended)."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from connectors.local_store import LocalFolderStore
from integration.models import Draft, Evidence, Handoff, SessionRecord, Task
from integration.ops.privacy import erase_person, export_person
from integration.parcours import audio
from integration.parcours.errors import FileTooLarge, UnsupportedFile
from integration.parcours.evidence import attach_evidence
from integration.parcours.files import prepare
from integration.parcours.tasks import create_task
from tests.support import parcours as parcours_support
from tests.support.audio import ogg_opus_bytes, webm_opus_bytes
from tests.support.parcours import Cast
from tests.test_pages_candidat import add_task
from tests.test_pages_support import db_of, form_token, launched, post, text_of

sessions = parcours_support.sessions


def save_draft(client: FlaskClient, data: dict[str, str], key: str = "task-new",
               token: str | None = None) -> int:
    token = form_token(client, "/moi/activites/nouvelle") if token is None else token
    response = client.post(f"/moi/brouillons/{key}", data=json.dumps(data),
                           content_type="application/json", headers={"X-CSRF-Token": token})
    return response.status_code


# --- drafts ---------------------------------------------------------------------------------


def test_a_draft_is_kept_as_the_person_types_and_offered_back(demo_app: Flask):
    samira = launched(demo_app)
    assert save_draft(samira, {"title": "Je trie les dons", "where": "à la recyclerie",
                               "evil": "<script>", "how": "x" * 20_000}) == 204
    home = text_of(samira.get("/moi"))
    assert "Je reprends ce que j’avais écrit" in home
    offer = text_of(samira.get("/moi/activites/nouvelle"))
    assert "Je reprends ce que j’avais écrit" in offer and "Je trie les dons" not in offer
    back = text_of(samira.get("/moi/activites/nouvelle?reprendre=1"))
    assert 'value="Je trie les dons"' in back and 'value="à la recyclerie"' in back
    with db_of(demo_app) as db:
        draft = db.scalars(select(Draft)).one()
        assert "evil" not in draft.data and len(draft.data["how"]) == 10_000
    # Saving the activity drops the draft.
    add_task(samira, "Je trie les dons")
    assert "data-draft-server" not in text_of(samira.get("/moi"))
    with db_of(demo_app) as db:
        assert db.scalar(select(func.count(Draft.id))) == 0


def test_a_draft_is_nobody_elses(demo_app: Flask):
    samira = launched(demo_app)
    save_draft(samira, {"title": "Mon secret"})
    jean_marc = launched(demo_app, "candidat2")
    assert "data-draft-server" not in text_of(jean_marc.get("/moi"))
    assert "Mon secret" not in text_of(jean_marc.get("/moi/activites/nouvelle?reprendre=1"))
    nadia = launched(demo_app, "accompagnatrice")
    assert nadia.get("/moi/activites/nouvelle?reprendre=1").status_code == 403
    # Another course of the same person: another space.
    samira_elsewhere = launched(demo_app, "candidat1", "accompagnement")
    assert "Mon secret" not in text_of(
        samira_elsewhere.get("/moi/activites/nouvelle?reprendre=1"))


def test_a_draft_needs_the_pages_token_and_a_proper_name(demo_app: Flask):
    samira = launched(demo_app)
    assert save_draft(samira, {"title": "x"}, token="forged") == 403
    assert save_draft(samira, {"title": "x"}, key="../etc") in (404, 422)
    assert save_draft(samira, {"title": "x"}, key="A") == 422
    anonymous = demo_app.test_client()
    assert anonymous.post("/moi/brouillons/task-new", json={"title": "x"}).status_code == 401
    with db_of(demo_app) as db:
        assert db.scalar(select(func.count(Draft.id))) == 0


def test_photos_too_big_for_the_server_cost_no_words(demo_app: Flask):
    """Without the page's script, three big photos at once exceed the server's limit: the
    form comes back with the words kept as the person typed, the reason on the form."""
    samira = launched(demo_app)
    save_draft(samira, {"title": "Je mets en rayon", "where": "au magasin"})
    big = b"\xff\xd8\xff" + b"\x00" * (9 * 1024 * 1024)
    response = post(samira, "/moi/activites/nouvelle",
                    {"title": "Je mets en rayon",
                     "file": [(BytesIO(big), f"p{i}.jpg") for i in range(3)]},
                    token_from="/moi/activites/nouvelle", content_type="multipart/form-data")
    assert response.status_code == 413
    text = text_of(response)
    assert "trop grosses pour partir ensemble" in text and 'value="Je mets en rayon"' in text
    assert 'value="au magasin"' in text and 'href="#f-file"' in text


def test_each_photo_is_accepted_or_refused_on_its_own(demo_app: Flask):
    from tests.support.parcours import jpeg_bytes

    samira = launched(demo_app)
    response = post(samira, "/moi/activites/nouvelle",
                    {"title": "Je plie", "file": [(BytesIO(jpeg_bytes()), "a.jpg"),
                                                  (BytesIO(b"nope"), "b.jpg"),
                                                  (BytesIO(jpeg_bytes()), "c.jpg")]},
                    token_from="/moi/activites/nouvelle", content_type="multipart/form-data")
    assert response.status_code == 303
    assert "/competences?nouvelle=1" in response.headers["Location"]  # one flow
    text = text_of(samira.get(response.headers["Location"]))
    assert "Avec 2 photos." in text and "La photo 2 n’est pas gardée" in text
    assert "À quoi ça correspond ?" in text
    with db_of(demo_app) as db:
        assert db.scalar(select(func.count(Evidence.id))) == 2


# --- voice notes ------------------------------------------------------------------------------


def test_voice_notes_are_sniffed_from_their_bytes_and_bounded():
    assert prepare(webm_opus_bytes()).kind == "audio"
    assert prepare(webm_opus_bytes()).content_type == "audio/webm"
    assert prepare(ogg_opus_bytes()).content_type == "audio/ogg"
    mp4 = (b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A isom" + b"\x00\x00\x00\x6cmoov"
           + b"\x00\x00\x00\x6cmvhd" + b"\x00" * 12 + (1000).to_bytes(4, "big")
           + (5000).to_bytes(4, "big") + b"\x00" * 60 + b"hdlr\x00\x00\x00\x00\x00\x00\x00\x00soun")
    assert prepare(mp4).content_type == "audio/mp4" and audio.seconds("mp4", mp4) == 5
    assert prepare(b"ID3\x03\x00" + b"\x00" * 500).content_type == "audio/mpeg"
    with pytest.raises(FileTooLarge):
        prepare(ogg_opus_bytes(seconds=20 * 60))  # longer than a note
    with pytest.raises(FileTooLarge):
        prepare(webm_opus_bytes(seconds=400, duration_element=True))
    with pytest.raises(FileTooLarge):
        prepare(webm_opus_bytes(padding=audio.MAX_AUDIO_BYTES))
    video = webm_opus_bytes().replace(b"A_OPUS", b"V_VP8\x00")
    with pytest.raises(UnsupportedFile):
        prepare(video)


def test_a_voice_note_is_kept_and_played_back(demo_app: Flask):
    samira = launched(demo_app)
    task_id = add_task(samira)
    response = post(samira, f"/moi/activites/{task_id}/photos",
                    {"voice": (BytesIO(webm_opus_bytes()), "blob")},
                    token_from=f"/moi/activites/{task_id}", content_type="multipart/form-data")
    assert response.status_code == 303
    page = text_of(samira.get(f"/moi/activites/{task_id}"))
    assert "La note de voix est gardée." in page and "Ma note de voix" in page
    src = re.search(r'<audio controls[^>]*src="([^"]+)"', page)
    assert src
    played = samira.get(src.group(1))
    assert played.status_code == 200 and played.mimetype == "audio/webm"
    assert played.get_data() == webm_opus_bytes()
    # Another candidat cannot play it, even knowing the address.
    assert launched(demo_app, "candidat2").get(src.group(1)).status_code == 404


def test_voice_notes_are_exported_and_erased_like_photos(sessions, tmp_path: Path):
    store = LocalFolderStore(tmp_path / "files")
    with sessions() as session:
        cast = Cast.build(session)
        alice = cast.actor("alice")
        task = create_task(session, alice, cast.parcours["alice"].id, {"title": "Je trie"})
        note = attach_evidence(session, alice, store, task.id, ogg_opus_bytes(), filename="voix")
        assert note.kind == "audio"
        path = note.storage_path
        session.add(Draft(person_id=alice.person_id, platform_id=alice.platform_id,
                          course_id=alice.course_id, form_key="task-new", data={"title": "x"}))
        person_id = alice.person_id
        session.commit()
    with sessions() as session:
        archive = export_person(session, store, person_id)
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        assert any(n.endswith(".ogg") for n in zf.namelist())
    assert store.exists(path)
    with sessions() as session:
        erase_person(session, store, person_id)
        session.commit()
    assert not store.exists(path)
    with sessions() as session:
        assert session.scalar(select(func.count(Draft.id))) == 0


# --- « Continuer sur mon téléphone » ------------------------------------------------------


def handoff_code(computer: FlaskClient) -> tuple[str, str]:
    page = text_of(computer.get("/moi/telephone"))
    assert "<svg" in page and "Continuer sur mon téléphone" in page
    code = re.search(r'class="code-big"[^>]*>(\d{4} \d{4})<', page)
    link = re.search(r'data-link="(https?://[^"]+/t/[A-Za-z0-9_-]+)"', page)
    assert code and link
    return code.group(1), link.group(1)


def phone_post(phone: FlaskClient, path: str, data: dict[str, str] | None = None,
               origin: str = "http://localhost") -> object:
    return phone.post(path, data=data or {}, headers={"Origin": origin})


def test_the_phone_opens_the_same_space_once(demo_app: Flask):
    computer = launched(demo_app)
    add_task(computer, "Je range la réserve")
    code, link = handoff_code(computer)
    phone = demo_app.test_client()
    assert phone.get("/moi").status_code == 401
    opened = phone_post(phone, "/telephone", {"code": code})
    assert opened.status_code == 303 and opened.headers["Location"].endswith("/moi")
    assert "Je range la réserve" in text_of(phone.get("/moi"))
    # One time only: the code, then the link of the same hand-off.
    again = phone_post(demo_app.test_client(), "/telephone", {"code": code})
    assert again.status_code == 404 and "Ce code ne marche pas" in text_of(again)
    token = link.rsplit("/", 1)[1]
    assert phone_post(demo_app.test_client(), f"/t/{token}").status_code == 404
    # Stored as digests only.
    with db_of(demo_app) as db:
        row = db.scalars(select(Handoff)).one()
        assert code.replace(" ", "") not in (row.code_digest, row.token_digest)
        assert token not in row.token_digest and row.phone_digest


def test_the_link_works_and_a_photo_from_the_phone_shows_on_the_computer(demo_app: Flask):
    from tests.support.parcours import jpeg_bytes

    computer = launched(demo_app)
    task_id = add_task(computer, "Je taille la haie")
    _code, link = handoff_code(computer)
    phone = demo_app.test_client()
    path = "/t/" + link.rsplit("/", 1)[1]
    assert "Ouvrir mon espace" in text_of(phone.get(path))  # a GET spends nothing
    assert phone_post(phone, path).status_code == 303
    sent = post(phone, f"/moi/activites/{task_id}/photos",
                {"photo": (BytesIO(jpeg_bytes()), "haie.jpg")},
                token_from=f"/moi/activites/{task_id}", content_type="multipart/form-data")
    assert sent.status_code == 303
    assert "<img" in computer.get(f"/moi/activites/{task_id}").get_data(as_text=True)


def test_the_hand_off_ends_with_the_computers_session(demo_app: Flask):
    computer = launched(demo_app)
    code, _link = handoff_code(computer)
    phone = demo_app.test_client()
    assert phone_post(phone, "/telephone", {"code": code}).status_code == 303
    assert phone.get("/moi").status_code == 200
    post(computer, "/quitter", token_from="/moi")
    assert phone.get("/moi").status_code == 401  # « Quitter » signs the phone out too
    with db_of(demo_app) as db:
        assert db.scalar(select(func.count(Handoff.id))) == 0


def test_a_hand_off_opens_nothing_once_its_session_ended_or_expired(demo_app: Flask):
    computer = launched(demo_app)
    code, _ = handoff_code(computer)
    with db_of(demo_app) as db:
        db.execute(update(Handoff).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert phone_post(demo_app.test_client(), "/telephone", {"code": code}).status_code == 404
    code, _ = handoff_code(computer)
    with db_of(demo_app) as db:
        db.execute(SessionRecord.__table__.delete())  # the computer's session ended
    assert phone_post(demo_app.test_client(), "/telephone", {"code": code}).status_code == 404


def test_a_hand_off_is_not_opened_from_another_site_nor_by_guessing(demo_app: Flask):
    computer = launched(demo_app)
    code, link = handoff_code(computer)
    phone = demo_app.test_client()
    evil = phone_post(phone, "/telephone", {"code": code}, origin="https://evil.example")
    assert evil.status_code == 403
    assert phone_post(phone, "/telephone", {"code": "0000 0000"}).status_code == 404
    assert phone_post(phone, "/t/guessed-token").status_code == 404
    assert phone_post(phone, "/telephone", {"code": code}).status_code == 303  # still good


def test_only_a_candidat_makes_a_hand_off(demo_app: Flask):
    assert launched(demo_app, "accompagnatrice").get("/moi/telephone").status_code == 403
    assert demo_app.test_client().get("/moi/telephone").status_code == 401


def test_an_erased_person_leaves_no_hand_off(demo_app: Flask):
    computer = launched(demo_app)
    handoff_code(computer)
    with db_of(demo_app) as db:
        person_id = db.scalars(select(Handoff.person_id)).one()
        erase_person(db, demo_app.extensions["reperes"].store, person_id)
    with db_of(demo_app) as db:
        assert db.scalar(select(func.count(Handoff.id))) == 0
        assert db.scalar(select(func.count(Task.id))) == 0


def test_guessing_short_codes_is_cut_off_while_the_qr_link_still_works(demo_app: Flask):
    from integration.pages.handoff import WRONG_CODES

    computer = launched(demo_app)
    code, link = handoff_code(computer)
    attacker = demo_app.test_client()
    for n in range(WRONG_CODES):
        guess = f"{n:08d}"
        if guess != code.replace(" ", ""):
            assert phone_post(attacker, "/telephone", {"code": guess}).status_code == 404
    # The real code is refused too now: the window of wrong tries is full.
    assert phone_post(demo_app.test_client(), "/telephone", {"code": code}).status_code == 404
    token = link.rsplit("/", 1)[1]
    assert phone_post(demo_app.test_client(), f"/t/{token}").status_code == 303
