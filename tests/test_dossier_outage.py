"""Photos never depend on the shared store at build time (issue 16).

Against the real WsgiDAV server (tests/webdav_server.py), stopped to stand for a Nextcloud
that is down: a dossier built now has every photo; a photo received during the outage is
kept (the person is told), and reaches the store once it comes back, written once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from integration import parcours as services
from integration.db import transaction
from integration.dossier.build import generate_dossier
from integration.dossier.queue import drain_pending_writes
from integration.models import Evidence, PendingWrite
from integration.runtime import Runtime
from tests.support.parcours import jpeg_bytes
from tests.test_dossier_support import Story, docx_media, make_runtime, tell_story
from tests.webdav_server import WebDavServer

ROOT = "Repères"


@pytest.fixture(name="dav")
def dav_fixture(tmp_path: Path) -> Iterator[WebDavServer]:
    (tmp_path / "dav" / ROOT).mkdir(parents=True)
    server = WebDavServer(tmp_path / "dav")
    with server:
        yield server


@pytest.fixture(name="story")
def story_fixture(tmp_path: Path, dav: WebDavServer) -> Iterator[Story]:
    database_url = f"sqlite:///{tmp_path / 'reperes.sqlite3'}"
    runtime = make_runtime(database_url, tmp_path / "var", storage_url=dav.folder_url(ROOT),
                           storage_username=dav.username, storage_password=dav.password)
    yield tell_story(runtime, database_url, photos=3)
    runtime.engine.dispose()


def _served(dav: WebDavServer, path: str) -> Path:
    return dav.root / ROOT / path


def test_with_the_store_stopped_a_dossier_built_now_has_every_photo(
    story: Story, dav: WebDavServer
) -> None:
    runtime: Runtime = story.runtime
    dav.stop()
    started = time.perf_counter()
    made = generate_dossier(runtime, story.actor("alice"), story.parcours_id, publish=False)
    elapsed = time.perf_counter() - started
    assert len(docx_media(made.data)) == 3  # the three photos, none « illisible »
    assert b"photo illisible" not in made.data
    assert elapsed < 5, f"the dossier waited for the store: {elapsed:.1f} s"


def test_a_photo_received_during_the_outage_is_kept_and_written_once_when_the_store_is_back(
    story: Story, dav: WebDavServer
) -> None:
    runtime: Runtime = story.runtime
    alice = story.actor("alice")
    with transaction(runtime.sessions) as session:
        task_id = session.scalar(select(Evidence.task_id)
                                 .where(Evidence.id == story.photo_evidence[0]))
    dav.stop()
    with transaction(runtime.sessions) as session:
        evidence = services.attach_evidence(session, alice, runtime.store, task_id,
                                            jpeg_bytes((900, 600), (200, 30, 30)),
                                            caption="Prise pendant la panne")
        assert getattr(evidence, "waiting_for_storage", False)  # the page says it is kept
        new_id, paths = evidence.id, [evidence.storage_path, evidence.medium_path,
                                      evidence.preview_path]
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(PendingWrite.id)
                              .where(PendingWrite.evidence_id == new_id)) is not None
    # The dossier made during the outage has it too.
    made = generate_dossier(runtime, alice, story.parcours_id, publish=False)
    assert len(docx_media(made.data)) == 4
    for path in paths:
        assert not _served(dav, path).exists()

    dav.start()
    report = drain_pending_writes(runtime, include_not_due=True)
    assert not report.errors, report.errors
    for path in paths:
        assert _served(dav, path).exists(), path
    # Written once: no second copy, and nothing waits any more.
    evidence_files = sorted(p.name for p in _served(dav, paths[0]).parent.iterdir())
    assert len([n for n in evidence_files if n.startswith(Path(paths[0]).stem)]) == 3
    with transaction(runtime.sessions) as session:
        assert session.scalar(select(PendingWrite.id)
                              .where(PendingWrite.evidence_id == new_id)) is None
    # The full-size original left this machine; the reduced copies stay for the dossier.
    assert not runtime.kept_files.exists(paths[0])
    assert runtime.kept_files.exists(paths[1])
    again = drain_pending_writes(runtime, include_not_due=True)
    assert again.due == 0
    puts = [r for r in dav.seen if r.method == "PUT" and Path(paths[0]).stem in r.path]
    assert len(puts) == 3  # each file written once


def test_photo_pages_read_the_copy_kept_here_while_the_store_is_down(tmp_path) -> None:
    """A photo page does not wait for Nextcloud: the reduced copy kept on this machine answers."""
    from connectors.local_store import LocalFolderStore
    from connectors.storage import StorageError
    from integration.parcours import kept
    from integration.parcours.evidence import _local_first

    class Down(LocalFolderStore):
        def iter_chunks(self, path, chunk_size=65536):  # type: ignore[no-untyped-def]
            raise StorageError("the shared store is down")

    shared = Down(tmp_path / "shared")
    local = kept.local_store(tmp_path / "var")
    kept.keep_beside(shared, local)
    assert kept.keep(local, "evidence/1-medium.jpg", b"jpeg bytes", "image/jpeg")
    assert b"".join(_local_first(shared, "evidence/1-medium.jpg")) == b"jpeg bytes"
    with pytest.raises(StorageError):
        _local_first(shared, "evidence/2-medium.jpg")


def test_the_person_is_told_a_photo_sent_during_the_outage_is_kept(
    story: Story, dav: WebDavServer
) -> None:
    from integration.pages.candidat import KEPT_HERE
    from integration.pages.screens import Upload, attach

    runtime: Runtime = story.runtime
    with transaction(runtime.sessions) as session:
        task_id = session.scalar(select(Evidence.task_id)
                                 .where(Evidence.id == story.photo_evidence[0]))
    dav.stop()
    with transaction(runtime.sessions) as session:
        done = attach(session, story.actor("alice"), runtime.store, task_id,
                      [Upload(jpeg_bytes((800, 600), (20, 120, 30)), "rayon.jpg")])
    assert (done.accepted, done.kept_here, done.refused) == (1, 1, [])
    assert "Rien n’est perdu" in KEPT_HERE and "gardé ici" in KEPT_HERE
