"""Dossiers written to shared storage: names, never losing an edit, outages and the queue, shares.

Against the real WsgiDAV server (tests/webdav_server.py) with REPERES_STORAGE_URL pointing
to it; Nextcloud's share API replayed from the recordings (shared/data/nextcloud-34).
WsgiDAV's ETag changes only with the size or the second: edits here change the size."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from click.testing import CliRunner
from docx import Document
from sqlalchemy import select

from connectors.nextcloud import NextcloudStore
from connectors.storage import Refused, Store, StoredFile, Unavailable
from integration.cli import main
from integration.db import transaction
from integration.dossier.build import dossier_bytes, dossier_status, find_dossier, generate_dossier
from integration.dossier.folders import alternate_names, clean_name, ensure_folder, person_name
from integration.dossier.publication import QUEUED, SUPERSEDED, WRITTEN
from integration.dossier.queue import drain_pending_writes
from integration.dossier.writing import BACKOFF
from integration.models import (
    Course,
    Dossier,
    Parcours,
    PendingWrite,
    Person,
    PublishedPhoto,
    Role,
)
from integration.ops.locks import Lease
from integration.runtime import Runtime
from tests.support.parcours import make_membership, make_parcours, make_person
from tests.test_dossier_support import Story, make_runtime, tell_story
from tests.webdav_server import WebDavServer

ROOT = "Repères"  # the store's folder on the server
FOLDER = "RAE/Cours X/Martin Alice"
USUAL = f"{FOLDER}/Dossier de preuves - Martin Alice.docx"
# 12 March 2027, 10:30 in Paris.
WHEN = datetime(2027, 3, 12, 9, 30, tzinfo=UTC)
EDITED_COPY = f"{FOLDER}/Dossier de preuves - Martin Alice (version du 12-03-2027).docx"
QUEUED_TEXT = "Le dossier est prêt. Il sera copié dans Nextcloud dès que possible."


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(name="dav")
def dav_fixture(tmp_path: Path) -> Iterator[WebDavServer]:
    (tmp_path / "dav" / ROOT).mkdir(parents=True)
    server = WebDavServer(tmp_path / "dav")
    with server:
        yield server


def _dav_runtime(database_url: str, tmp_path: Path, dav: WebDavServer) -> Runtime:
    return make_runtime(
        database_url, tmp_path / "var",
        storage_url=dav.folder_url(ROOT), storage_username=dav.username,
        storage_password=dav.password,
    )


@pytest.fixture(name="story")
def story_fixture(tmp_path: Path, dav: WebDavServer) -> Iterator[Story]:
    """Alice's parcours (SQLite), her evidence and dossiers on the WebDAV server."""
    database_url = f"sqlite:///{tmp_path / 'reperes.sqlite3'}"
    runtime = _dav_runtime(database_url, tmp_path, dav)
    yield tell_story(runtime, database_url)
    runtime.engine.dispose()


@pytest.fixture(name="any_db_story")
def any_db_story_fixture(
    database_url: str, tmp_path: Path, dav: WebDavServer
) -> Iterator[Story]:
    """The same, on SQLite and on PostgreSQL."""
    runtime = _dav_runtime(database_url, tmp_path, dav)
    yield tell_story(runtime, database_url, photos=1)
    runtime.engine.dispose()


def on_server(dav: WebDavServer, path: str) -> Path:
    return dav.root / ROOT / path


def docx_files(dav: WebDavServer) -> list[str]:
    return sorted(p.name for p in on_server(dav, FOLDER).glob("*.docx"))


def puts_to(dav: WebDavServer, name: str) -> list[dict[str, str]]:
    return [r.headers for r in dav.seen if r.method == "PUT" and name in unquote(r.path)]


def edit_in_word(data: bytes, words: str) -> bytes:
    document = Document(io.BytesIO(data))
    document.add_paragraph(words)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def rows(story: Story) -> list[Dossier]:
    with transaction(story.runtime.sessions) as session:
        return list(session.scalars(select(Dossier).order_by(Dossier.id)))


def pending(story: Story) -> list[PendingWrite]:
    with transaction(story.runtime.sessions) as session:
        return list(session.scalars(select(PendingWrite).order_by(PendingWrite.id)))


def later(hours: float = 2) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Martin   Alice ", "Martin Alice"),
        ("Jean/Marc\\Dupont", "Jean-Marc-Dupont"),
        ("CAP: cuisine", "CAP - cuisine"),
        ("Ame\u0301lie", "Amélie"),  # NFD in, NFC out
        ("ligne\nnouvelle\ttab\x00nul", "ligne nouvelle tab nul"),
        ("...caché.", "caché"),
        ("a\u202eexe.docx", "a exe.docx"),  # no right-to-left override in a name
        ('<"Quoi?*|">', "'Quoi-'"),
        ("", "Personne 7"),
        ("///", "Personne 7"),
        ("CON", "CON _"),
        ("Œuvre ç à ü ñ 👩‍🌾", "Œuvre ç à ü ñ 👩‍🌾"),
    ],
)
def test_names_are_cleaned_to_be_valid_everywhere(raw: str, clean: str) -> None:
    assert clean_name(raw, "Personne 7") == clean


def test_a_long_name_is_cut_on_a_character_boundary() -> None:
    name = clean_name("é" * 300, "x")
    assert len(name.encode()) <= 120 and set(name) == {"é"}
    longest = list(alternate_names(name, WHEN))[-1]
    assert len(longest.encode()) < 255


def test_a_person_is_named_family_name_first() -> None:
    assert person_name(Person(id=3, given_name="Alice", family_name="Martin", name="x")) == (
        "Martin Alice")
    assert person_name(Person(id=3, given_name="", family_name="", name="Samira B.")) == (
        "Samira B")
    assert person_name(Person(id=3, given_name="", family_name="", name="")) == "Personne 3"


def test_namesakes_get_their_own_folder_and_keep_it(story: Story) -> None:
    runtime = story.runtime
    with transaction(runtime.sessions) as session:
        x = session.get(Course, story.cast.courses["X"].id)
        assert x is not None
        twins = []
        for _ in range(2):
            person = make_person(session, story.cast.platforms["A"])
            person.given_name, person.family_name = "Alice", "Martin"
            make_membership(session, x, person, Role.CANDIDAT)
            twins.append(make_parcours(session, person, x))
        first = ensure_folder(session, session.get(Parcours, story.parcours_id))
        second = ensure_folder(session, twins[0])
        third = ensure_folder(session, twins[1])
        assert [first.path, second.path, third.path] == [
            FOLDER, f"{FOLDER} (2)", f"{FOLDER} (3)"]
        assert second.name == "Martin Alice"
        # Renaming the course later moves nothing.
        x.title = "Un autre titre"
        session.flush()
        assert ensure_folder(session, twins[0]).path == f"{FOLDER} (2)"


# --- never lose an edit -------------------------------------------------------------------------


def test_an_edited_dossier_is_kept_and_the_new_one_goes_beside_it(
    story: Story, dav: WebDavServer
) -> None:
    first = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    assert first.outcome is not None and first.outcome.state == WRITTEN
    assert on_server(dav, USUAL).read_bytes() == first.data
    # Carla opens it from Nextcloud, adds a line and saves it (another WebDAV client).
    edited = edit_in_word(first.data, "Ajout de Carla : Alice forme aussi les nouveaux.")
    other_client = NextcloudStore(dav.folder_url(ROOT), dav.username, dav.password)
    other_client.put(USUAL, edited)

    second = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id, now=WHEN)
    assert second.outcome is not None
    assert second.outcome.path == EDITED_COPY
    assert "Ses changements sont gardés" in second.outcome.message
    assert "Dossier de preuves - Martin Alice (version du 12-03-2027).docx" in (
        second.outcome.message)
    assert on_server(dav, USUAL).read_bytes() == edited  # untouched
    assert on_server(dav, EDITED_COPY).read_bytes() == second.data
    with transaction(story.runtime.sessions) as session:
        status = dossier_status(session, story.actor("alice"), story.parcours_id,
                                in_nextcloud=True)
    assert status.message == second.outcome.message and status.version == 2

    # Made again the same day: the new copy (ours, unchanged) is updated, with If-Match.
    third = generate_dossier(story.runtime, story.actor("carla"), story.parcours_id,
                             now=WHEN + timedelta(minutes=5))
    assert third.outcome is not None and third.outcome.path == EDITED_COPY
    assert on_server(dav, EDITED_COPY).read_bytes() == third.data
    assert "If-Match" in puts_to(dav, "(version du 12-03-2027)")[-1]
    assert on_server(dav, USUAL).read_bytes() == edited
    assert docx_files(dav) == [
        "Dossier de preuves - Martin Alice (version du 12-03-2027).docx",
        "Dossier de preuves - Martin Alice.docx",
    ]


def test_a_dossier_made_twice_without_edit_is_updated_in_place_with_if_match(
    story: Story, dav: WebDavServer
) -> None:
    first = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    second = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    assert second.outcome is not None and second.outcome.path == USUAL
    assert second.outcome.message == ""
    assert on_server(dav, USUAL).read_bytes() == second.data != first.data
    creates, updates = puts_to(dav, "Martin Alice.docx")
    assert creates.get("If-None-Match") == "*" and "If-Match" not in creates
    assert updates.get("If-Match") == rows(story)[0].etag
    assert docx_files(dav) == ["Dossier de preuves - Martin Alice.docx"]


def test_a_write_refused_by_its_if_match_counts_as_an_edit(
    story: Story, dav: WebDavServer
) -> None:
    generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    # Someone saves between our look and our write: the server answers 412.
    dav.faults.answer(412, methods=["PUT"], path_contains="Martin%20Alice.docx")
    second = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id, now=WHEN)
    assert second.outcome is not None and second.outcome.path == EDITED_COPY
    assert len(docx_files(dav)) == 2


def test_a_second_edited_copy_the_same_day_gets_the_time(
    story: Story, dav: WebDavServer
) -> None:
    first = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    on_server(dav, USUAL).write_bytes(edit_in_word(first.data, "Changé une fois."))
    second = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id, now=WHEN)
    assert second.outcome is not None and second.outcome.path == EDITED_COPY
    on_server(dav, EDITED_COPY).write_bytes(edit_in_word(second.data, "Changé deux fois."))
    third = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id, now=WHEN)
    assert third.outcome is not None
    assert third.outcome.path == (
        f"{FOLDER}/Dossier de preuves - Martin Alice (version du 12-03-2027 10h30).docx")
    assert len(docx_files(dav)) == 3


def test_photos_are_copied_beside_the_dossier_once(story: Story, dav: WebDavServer) -> None:
    generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    photos = sorted(p.name for p in on_server(dav, f"{FOLDER}/Photos").iterdir())
    assert photos == [f"Je nettoie les bureaux de la Fabrique le matin - photo {e}.jpg"
                      for e in story.photo_evidence]
    assert len(puts_to(dav, "/Photos/")) == 2  # written once each
    with transaction(story.runtime.sessions) as session:
        medium = [story.runtime.store.get(p.path) for p in
                  session.scalars(select(PublishedPhoto).order_by(PublishedPhoto.id))]
    assert all(m.startswith(b"\xff\xd8") for m in medium)


# --- outages: queued, said plainly, retried, never written twice ------------------------------


def _assert_queued(story: Story, made: Any) -> None:
    assert made.outcome.state == QUEUED
    assert made.outcome.message == QUEUED_TEXT
    (row,) = [r for r in rows(story) if r.id == made.dossier_id]
    assert row.state == QUEUED and row.content == made.data
    with transaction(story.runtime.sessions) as session:
        status = dossier_status(session, story.actor("alice"), story.parcours_id,
                                in_nextcloud=True)
        assert status.message == QUEUED_TEXT
        # Still downloadable from Repères meanwhile.
        again = find_dossier(session, story.actor("carla"), story.parcours_id)
        assert dossier_bytes(story.runtime.store, again) == made.data
    (waiting,) = pending(story)
    assert waiting.dossier_id == made.dossier_id and waiting.attempts == 1
    assert waiting.last_error


@pytest.mark.parametrize(
    "fault",
    ["server stopped", "507 quota", "401 login", "cut mid-upload", "503 maintenance"],
)
def test_an_outage_queues_the_dossier_and_the_queue_writes_it_once_back(
    any_db_story: Story, dav: WebDavServer, fault: str
) -> None:
    story = any_db_story
    if fault == "server stopped":
        dav.stop()
    elif fault == "cut mid-upload":
        dav.faults.drop_connection(methods=["PUT"], path_contains=".docx", after_bytes=4096)
    else:
        status = int(fault.split()[0])
        dav.faults.answer(status, methods=None if status == 401 else ["PUT"], times=3)
    made = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    _assert_queued(story, made)

    dav.faults.clear()
    dav.start()
    report = drain_pending_writes(story.runtime, now=later())
    assert (report.due, report.written, report.still_queued) == (1, 1, 0), report
    assert report.photos == 1 and report.left == 0
    assert on_server(dav, USUAL).read_bytes() == made.data
    assert docx_files(dav) == ["Dossier de preuves - Martin Alice.docx"]
    assert [r.state for r in rows(story)] == [WRITTEN]
    assert pending(story) == []
    # Nothing more to do, nothing written again.
    writes = len([r for r in dav.seen if r.method == "PUT"])
    assert drain_pending_writes(story.runtime, now=later(5)).due == 0
    assert len([r for r in dav.seen if r.method == "PUT"]) == writes


def test_the_queue_waits_longer_each_time_and_keeps_only_the_newest_version(
    any_db_story: Story, dav: WebDavServer
) -> None:
    story = any_db_story
    dav.stop()
    older = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    assert older.outcome is not None and older.outcome.state == QUEUED
    moment = datetime.now(UTC)
    waits = []
    for _ in range(5):
        moment = pending(story)[0].next_attempt_at
        report = drain_pending_writes(story.runtime, now=moment)
        assert report.still_queued == 1 and "refused" in report.errors[0]
        waits.append(pending(story)[0].next_attempt_at - moment)
    assert waits == [BACKOFF[1], BACKOFF[2], BACKOFF[3], BACKOFF[3], BACKOFF[3]]
    assert pending(story)[0].attempts == 6
    # A newer version made meanwhile replaces the older one in the queue.
    newer = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    dav.start()
    report = drain_pending_writes(story.runtime, now=moment + timedelta(days=1))
    assert report.written == 1 and report.superseded == 1, report
    states = {r.version: r.state for r in rows(story)}
    assert states == {1: SUPERSEDED, 2: WRITTEN}
    assert on_server(dav, USUAL).read_bytes() == newer.data
    assert len(puts_to(dav, "Martin Alice.docx")) == 1


class _LosesAnswers:
    """A store whose writes of dossiers arrive but whose answers are lost."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def put(self, path: str, data: Any, **kwargs: Any) -> StoredFile:
        written = self._store.put(path, data, **kwargs)
        if path.endswith(".docx"):
            raise Unavailable("connection reset by the server; retry later", path=path)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_a_write_whose_answer_was_lost_is_not_taken_for_an_edit_nor_written_twice(
    story: Story, dav: WebDavServer
) -> None:
    generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    lossy = _LosesAnswers(story.runtime.store)
    made = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id,
                            store=lossy)  # type: ignore[arg-type]
    assert made.outcome is not None and made.outcome.state == QUEUED
    assert on_server(dav, USUAL).read_bytes() == made.data  # it did arrive
    before = len(puts_to(dav, "Martin Alice.docx"))
    report = drain_pending_writes(story.runtime, now=later())
    assert report.written == 1
    assert len(puts_to(dav, "Martin Alice.docx")) == before  # recognised, not sent again
    assert docx_files(dav) == ["Dossier de preuves - Martin Alice.docx"]
    assert rows(story)[-1].state == WRITTEN and rows(story)[-1].storage_path == USUAL


class _PhotosRefused:
    """A store that takes the dossier but refuses the photos (a quota reached between)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def put(self, path: str, data: Any, **kwargs: Any) -> StoredFile:
        if "/Photos/" in path:
            raise Refused("storage quota exceeded (HTTP 507)", path=path, status=507)
        return self._store.put(path, data, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_photos_that_could_not_be_copied_wait_in_the_queue(
    story: Story, dav: WebDavServer
) -> None:
    made = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id,
                            store=_PhotosRefused(story.runtime.store))  # type: ignore[arg-type]
    assert made.outcome is not None and made.outcome.state == WRITTEN
    assert made.outcome.photos_written == 0
    (waiting,) = pending(story)
    assert waiting.evidence_id == story.photo_evidence[0] and "quota" in waiting.last_error
    report = drain_pending_writes(story.runtime, now=later())
    assert report.photos == 2 and report.left == 0, report
    assert len(list(on_server(dav, f"{FOLDER}/Photos").iterdir())) == 2


def test_an_upload_cut_half_way_that_left_a_partial_file_is_finished_not_kept(
    story: Story, dav: WebDavServer
) -> None:
    first = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    dav.stop()
    made = generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    # Some servers write as they receive: the old file was replaced by the start of ours.
    on_server(dav, USUAL).write_bytes(made.data[:5000])
    assert made.data != first.data
    dav.start()
    assert drain_pending_writes(story.runtime, now=later()).written == 1
    assert on_server(dav, USUAL).read_bytes() == made.data
    assert docx_files(dav) == ["Dossier de preuves - Martin Alice.docx"]


def test_the_queue_is_drained_by_one_process_at_a_time(any_db_story: Story,
                                                       dav: WebDavServer) -> None:
    story = any_db_story
    dav.stop()
    generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    dav.start()
    holder = Lease(story.runtime.engine, "storage-retry", holder="sync@other-host")
    assert holder.acquire()
    assert drain_pending_writes(story.runtime, now=later()).busy
    holder.release()
    assert drain_pending_writes(story.runtime, now=later()).written == 1


def test_reperes_storage_retry_and_pending(story: Story, dav: WebDavServer,
                                          tmp_path: Path) -> None:
    env = {
        "REPERES_DATABASE_URL": story.database_url,
        "REPERES_VAR_DIR": str(tmp_path / "cli"),
        "REPERES_SECRET_KEY": "t",
        "REPERES_STORAGE_URL": dav.folder_url(ROOT),
        "REPERES_STORAGE_USERNAME": dav.username,
        "REPERES_STORAGE_PASSWORD": dav.password,
    }
    dav.faults.answer(507, methods=["PUT"], times=100)
    generate_dossier(story.runtime, story.actor("alice"), story.parcours_id)
    listed = CliRunner().invoke(main, ["storage", "pending"], env=env)
    assert listed.exit_code == 0 and "dossier 1: 1 attempt(s)" in listed.output
    assert "quota" in listed.output
    still = CliRunner().invoke(main, ["storage", "retry", "--all"], env=env)
    assert still.exit_code == 3, still.output
    assert "1 still waiting" in still.output and "quota" in still.output
    dav.faults.clear()
    done = CliRunner().invoke(main, ["storage", "retry", "--all"], env=env)
    assert done.exit_code == 0, done.output
    assert "1 dossier(s) written" in done.output
    assert CliRunner().invoke(main, ["storage", "pending"], env=env).output.strip() == (
        "the queue is empty")


