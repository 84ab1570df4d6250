"""NextcloudStore against a real WebDAV server (WsgiDAV under cheroot, on 127.0.0.1)."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.nextcloud import NextcloudStore
from connectors.storage import (
    InvalidPath,
    NotFound,
    PreconditionFailed,
    Refused,
    StorageError,
    Store,
    Unavailable,
    open_store,
)
from tests.webdav_server import WebDavServer

SPECIAL_NAMES = [
    "Évaluation finale.docx",
    "l'entretien d'Amélie.docx",
    "dossier #1.docx",
    "50% réussite.docx",
    "a+b & c.docx",
    "Œuvre ç à ü ñ.docx",
    "raw #2.docx",
    "Séance n°1 (l’atelier)",
    "..docx",
    "equal=sign.docx",
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[WebDavServer]:
    (tmp_path / "dav" / "Dossiers").mkdir(parents=True)  # the operator makes the root folder
    with WebDavServer(tmp_path / "dav") as running:
        yield running


@pytest.fixture
def store(server: WebDavServer) -> Iterator[NextcloudStore]:
    opened = NextcloudStore(
        server.folder_url("Dossiers"), server.username, server.password, timeout=(2.0, 5.0)
    )
    yield opened
    opened.close()


def on_disk(server: WebDavServer, path: str) -> Path:
    return server.root / "Dossiers" / path


def requests_of(server: WebDavServer, method: str) -> list[str]:
    return [seen.path for seen in server.seen if seen.method == method]


# -- the basics ------------------------------------------------------------------------


def test_a_dossier_goes_through_put_get_stat_list_move_delete(
    server: WebDavServer, store: NextcloudStore
) -> None:
    content = os.urandom(20_000)
    written = store.put("candidats/Amélie/dossier.docx", content)

    assert written.path == "candidats/Amélie/dossier.docx"
    assert written.size == len(content)
    assert written.etag and written.etag.startswith('"')
    assert written.modified is not None
    assert on_disk(server, "candidats/Amélie/dossier.docx").read_bytes() == content

    assert store.get("candidats/Amélie/dossier.docx") == content
    assert b"".join(store.iter_chunks("candidats/Amélie/dossier.docx", chunk_size=4096)) == content
    now = store.stat("candidats/Amélie/dossier.docx")
    assert now is not None and now.etag == written.etag and now.size == len(content)
    assert [(i.path, i.is_folder) for i in store.list("candidats")] == [("candidats/Amélie", True)]

    store.move("candidats/Amélie/dossier.docx", "archives/dossier (version du 12-03-2027).docx")
    assert not store.exists("candidats/Amélie/dossier.docx")
    assert store.get("archives/dossier (version du 12-03-2027).docx") == content

    store.delete("archives/dossier (version du 12-03-2027).docx")
    store.delete("archives/dossier (version du 12-03-2027).docx")
    assert store.stat("archives/dossier (version du 12-03-2027).docx") is None
    assert store.list("archives") == []


def test_the_store_meets_the_storage_interface(store: NextcloudStore) -> None:
    assert isinstance(store, Store)


def test_missing_things_are_not_found(store: NextcloudStore) -> None:
    with pytest.raises(NotFound):
        store.get("absent.docx")
    with pytest.raises(NotFound):
        store.iter_chunks("absent.docx")
    with pytest.raises(NotFound):
        store.list("absent")
    with pytest.raises(NotFound):
        store.move("absent.docx", "elsewhere.docx")
    assert store.stat("absent.docx") is None
    assert not store.exists("absent.docx")


def test_a_deep_path_is_made_one_folder_at_a_time_then_remembered(
    server: WebDavServer, store: NextcloudStore
) -> None:
    store.put("2027/session de printemps/candidats/Amélie/preuves/photo.jpg", b"jpeg")
    made = len(requests_of(server, "MKCOL"))
    assert on_disk(server, "2027/session de printemps/candidats/Amélie/preuves").is_dir()

    store.put("2027/session de printemps/candidats/Amélie/preuves/photo-2.jpg", b"jpeg 2")

    assert made >= 6  # the five folders and the root
    assert len(requests_of(server, "MKCOL")) == made  # nothing asked the second time


def test_existing_folders_cost_one_mkcol(server: WebDavServer, store: NextcloudStore) -> None:
    on_disk(server, "a/b/c").mkdir(parents=True)
    store.put("a/b/c/x.docx", b"x")
    assert requests_of(server, "MKCOL") == ["/remote.php/dav/files/reperes/Dossiers/a/b/c"]


def test_a_folder_removed_behind_our_back_is_made_again(
    server: WebDavServer, store: NextcloudStore
) -> None:
    store.put("candidats/Amélie/a.docx", b"a")
    shutil.rmtree(on_disk(server, "candidats"))
    store.put("candidats/Amélie/b.docx", b"bb")
    assert on_disk(server, "candidats/Amélie/b.docx").read_bytes() == b"bb"


def test_make_folder_and_list_of_a_file(store: NextcloudStore) -> None:
    store.make_folder("vide/encore vide")
    assert store.list("vide/encore vide") == []
    store.put("fichier.txt", b"x")
    with pytest.raises(StorageError):
        store.list("fichier.txt")


def test_a_file_in_the_way_of_a_folder_is_an_error(store: NextcloudStore) -> None:
    store.put("candidats", b"a file named like the folder")
    with pytest.raises(StorageError):
        store.put("candidats/Amélie/dossier.docx", b"x")


@pytest.mark.parametrize("name", SPECIAL_NAMES)
def test_names_with_accents_and_signs_arrive_as_given(
    server: WebDavServer, store: NextcloudStore, name: str
) -> None:
    content = name.encode() * 3
    store.put(f"candidats/{name}/fiche.txt", content)

    assert on_disk(server, f"candidats/{name}/fiche.txt").read_bytes() == content
    assert [item.name for item in store.list("candidats")] == [name]
    assert store.get(f"candidats/{name}/fiche.txt") == content
    assert store.stat(f"candidats/{name}") is not None
    store.move(f"candidats/{name}/fiche.txt", f"candidats/{name}/{name}.txt")
    assert store.get(f"candidats/{name}/{name}.txt") == content


def test_semicolons_and_question_marks_in_names(
    server: WebDavServer, store: NextcloudStore
) -> None:
    # Not moved here: WsgiDAV cuts a MOVE Destination at ';' and '?' even encoded.
    store.put("candidats/semi;colon=equal?.docx", b"x")
    assert [item.name for item in store.list("candidats")] == ["semi;colon=equal?.docx"]
    assert store.get("candidats/semi;colon=equal?.docx") == b"x"
    assert on_disk(server, "candidats/semi;colon=equal?.docx").read_bytes() == b"x"


def test_a_decomposed_name_is_stored_composed(server: WebDavServer, store: NextcloudStore) -> None:
    store.put(unicodedata.normalize("NFD", "Évaluation.docx"), b"x")
    assert [p.name for p in (server.root / "Dossiers").iterdir()] == ["Évaluation.docx"]


def test_bad_paths_never_reach_the_server(server: WebDavServer, store: NextcloudStore) -> None:
    before = len(server.seen)
    for bad in ("../../other-user/x.docx", "/abs.docx", "a//b.docx", "a\\b.docx", "x\x00y"):
        with pytest.raises(InvalidPath):
            store.put(bad, b"x")
    assert len(server.seen) == before


# -- conditional writes ------------------------------------------------------------------


def test_if_match_with_the_current_etag_writes(server: WebDavServer, store: NextcloudStore) -> None:
    first = store.put("dossier.docx", b"version 1")
    second = store.put("dossier.docx", b"version two", if_match=first.etag)

    assert second.etag != first.etag
    assert store.get("dossier.docx") == b"version two"
    sent = [s.headers.get("If-Match") for s in server.seen if s.method == "PUT"]
    assert sent == [None, first.etag]


def test_a_stale_etag_keeps_the_persons_edit(server: WebDavServer, store: NextcloudStore) -> None:
    first = store.put("dossier.docx", b"generated")
    # The accompagnateur edits the dossier (another size: WsgiDAV's ETag needs it).
    on_disk(server, "dossier.docx").write_bytes(b"edited by the accompagnateur")
    current = store.stat("dossier.docx")
    assert current is not None and current.etag != first.etag

    with pytest.raises(PreconditionFailed):
        store.put("dossier.docx", b"generated again", if_match=first.etag)

    assert on_disk(server, "dossier.docx").read_bytes() == b"edited by the accompagnateur"
    # What the lead's policy does next: write beside it under a new name.
    store.put("dossier (version du 12-03-2027).docx", b"generated again", if_none_match=True)
    assert store.get("dossier (version du 12-03-2027).docx") == b"generated again"


def test_if_none_match_never_replaces(server: WebDavServer, store: NextcloudStore) -> None:
    store.put("nouveau.docx", b"first", if_none_match=True)
    with pytest.raises(PreconditionFailed, match="already exists"):
        store.put("nouveau.docx", b"second!", if_none_match=True)
    assert store.get("nouveau.docx") == b"first"
    assert {s.headers.get("If-None-Match") for s in server.seen if s.method == "PUT"} == {"*"}


def test_move_refuses_to_overwrite_unless_asked(store: NextcloudStore) -> None:
    store.put("a.docx", b"a")
    store.put("b.docx", b"bb")
    with pytest.raises(PreconditionFailed):
        store.move("a.docx", "b.docx")
    assert store.get("b.docx") == b"bb"
    store.move("a.docx", "b.docx", overwrite=True)
    assert store.get("b.docx") == b"a"


# -- streaming ------------------------------------------------------------------------


def test_a_generator_is_uploaded_with_a_length_not_chunked(
    server: WebDavServer, store: NextcloudStore
) -> None:
    def chunks() -> Iterator[bytes]:
        for number in range(3):
            yield bytes([number]) * 700_000

    written = store.put("big.bin", chunks())

    expected = b"".join(bytes([n]) * 700_000 for n in range(3))
    put = next(s for s in server.seen if s.method == "PUT")
    assert put.headers.get("Content-Length") == str(len(expected))
    assert "Transfer-Encoding" not in put.headers
    assert written.size == len(expected)
    assert hashlib.sha256(store.get("big.bin")).digest() == hashlib.sha256(expected).digest()


def test_an_open_file_is_uploaded_from_where_it_stands(
    server: WebDavServer, store: NextcloudStore, tmp_path: Path
) -> None:
    source = tmp_path / "photo.jpg"
    source.write_bytes(b"HEADER" + os.urandom(100_000))
    with source.open("rb") as handle:
        handle.seek(6)
        written = store.put("photo.jpg", handle)
    assert written.size == 100_000
    assert written.content_type == "image/jpeg"
    assert on_disk(server, "photo.jpg").read_bytes() == source.read_bytes()[6:]


def test_an_empty_file_and_a_pipe_like_body(server: WebDavServer, store: NextcloudStore) -> None:
    class Pipe(io.RawIOBase):
        """Readable, not seekable: like a socket or a subprocess' output."""

        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            return self._data.readinto(buffer)

    store.put("vide.txt", io.BytesIO(b""))
    store.put("pipe.bin", Pipe(b"from a pipe" * 1000))
    assert on_disk(server, "vide.txt").read_bytes() == b""
    assert on_disk(server, "pipe.bin").read_bytes() == b"from a pipe" * 1000


# -- failures ---------------------------------------------------------------------------


def test_an_outage_mid_upload_is_unavailable_then_the_retry_works(
    server: WebDavServer, store: NextcloudStore
) -> None:
    store.make_folder("candidats")
    server.faults.drop_connection(methods=["PUT"], after_bytes=256 * 1024)
    content = os.urandom(3 * 1024 * 1024)

    with pytest.raises(Unavailable, match="retry later"):
        store.put("candidats/dossier.docx", content)

    written = store.put("candidats/dossier.docx", content)
    assert written.size == len(content)
    assert on_disk(server, "candidats/dossier.docx").read_bytes() == content


def test_a_stopped_server_is_unavailable_until_it_comes_back(
    server: WebDavServer, store: NextcloudStore
) -> None:
    store.put("avant.docx", b"before")
    port = server.port
    server.stop()

    with pytest.raises(Unavailable, match="connection refused"):
        store.put("pendant.docx", b"during")
    with pytest.raises(Unavailable):
        store.stat("avant.docx")

    server.start()
    assert server.port == port
    store.put("apres.docx", b"after")
    assert store.get("avant.docx") == b"before"


def test_a_slow_server_is_unavailable(server: WebDavServer, store: NextcloudStore) -> None:
    store.put("lent.docx", b"x")
    slow = NextcloudStore(
        server.folder_url("Dossiers"), server.username, server.password, timeout=(1.0, 0.3)
    )
    server.faults.delay(1.0, methods=["GET"])
    with pytest.raises(Unavailable, match="no answer in time"):
        slow.get("lent.docx")


@pytest.mark.parametrize("status", [500, 502, 503, 423])
def test_server_errors_are_worth_retrying(
    server: WebDavServer, store: NextcloudStore, status: int
) -> None:
    store.make_folder("")
    server.faults.answer(status, methods=["PUT"])
    with pytest.raises(Unavailable) as caught:
        store.put("dossier.docx", b"x")
    assert caught.value.status == status


def test_over_quota_is_refused(server: WebDavServer, store: NextcloudStore) -> None:
    store.make_folder("")
    sabre = (
        b'<?xml version="1.0" encoding="utf-8"?>\n<d:error xmlns:d="DAV:" '
        b'xmlns:s="http://sabredav.org/ns"><s:exception>Sabre\\DAV\\Exception\\'
        b"InsufficientStorage</s:exception><s:message>Insufficient space in /big.docx"
        b"</s:message></d:error>"
    )
    server.faults.answer(
        507, methods=["PUT"], body=sabre, headers=[("Content-Type", "application/xml")]
    )
    with pytest.raises(Refused) as caught:
        store.put("big.docx", os.urandom(200_000))
    assert caught.value.status == 507
    assert "quota" in str(caught.value)


def test_a_wrong_password_is_refused(server: WebDavServer) -> None:
    wrong = NextcloudStore(server.folder_url("Dossiers"), server.username, "not-the-password")
    with pytest.raises(Refused) as caught:
        wrong.put("x.docx", b"x")
    assert caught.value.status == 401
    assert "app password" in str(caught.value)


def test_a_forbidden_answer_is_refused(server: WebDavServer, store: NextcloudStore) -> None:
    store.make_folder("")
    server.faults.answer(403, methods=["PUT"])
    with pytest.raises(Refused) as caught:
        store.put("x.docx", b"x")
    assert caught.value.status == 403


def test_a_redirect_is_reported_not_followed(server: WebDavServer, store: NextcloudStore) -> None:
    server.faults.answer(
        301, methods=["PROPFIND"], headers=[("Location", "https://cloud.example/")]
    )
    with pytest.raises(StorageError, match="redirects"):
        store.stat("x.docx")


# -- secrets ----------------------------------------------------------------------------


def test_the_app_password_never_shows(
    server: WebDavServer, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    password_file = tmp_path / "app-password"
    password_file.write_text(server.password + "\n")
    store = open_store(server.folder_url("Dossiers"), password_file=password_file)
    assert isinstance(store, NextcloudStore)
    token = base64.b64encode(f"{server.username}:{server.password}".encode()).decode()
    errors: list[BaseException] = []

    store.put("a.docx", b"a")
    store.list("")
    server.faults.answer(507, methods=["PUT"])
    server.faults.answer(503, methods=["GET"])
    server.faults.drop_connection(methods=["PUT"], path_contains="c.docx")
    for action in (
        lambda: store.put("b.docx", b"b"),
        lambda: store.get("a.docx"),
        lambda: store.put("c.docx", os.urandom(300_000)),
    ):
        with pytest.raises(StorageError) as caught:
            action()
        errors.append(caught.value)
    server.stop()
    with pytest.raises(Unavailable) as caught:
        store.get("a.docx")
    errors.append(caught.value)

    shown = [caplog.text, repr(store), store.describe(), str(vars(store))]
    shown += [str(e) for e in errors] + [repr(e) for e in errors] + [str(e.args) for e in errors]
    for text in shown:
        assert server.password not in text
        assert token not in text


def test_open_store_takes_the_user_from_the_url_and_refuses_two_passwords(
    server: WebDavServer, tmp_path: Path
) -> None:
    store = open_store(server.folder_url("Dossiers"), password=server.password)
    assert isinstance(store, NextcloudStore)
    assert store.username == server.username
    store.put("x.docx", b"x")
    assert store.web_url("x.docx") is not None
    (tmp_path / "pw").write_text("x")
    with pytest.raises(StorageError):
        open_store(server.folder_url(), password="a", password_file=tmp_path / "pw")
    with pytest.raises(StorageError):
        open_store(server.folder_url(), password_file=tmp_path / "missing")


def test_credentials_written_in_the_url_are_taken_out_of_it(server: WebDavServer) -> None:
    url = server.folder_url("Dossiers").replace(
        "http://", f"http://{server.username}:{server.password}@"
    )
    store = open_store(url)
    assert server.password not in repr(store) + store.describe()
    store.put("x.docx", b"x")


# -- plain WebDAV ------------------------------------------------------------------------


def test_a_plain_webdav_server_works_too(tmp_path: Path) -> None:
    (tmp_path / "plain" / "Dossiers").mkdir(parents=True)
    with WebDavServer(tmp_path / "plain", mount="/dav") as plain:
        store = open_store(
            f"{plain.url}/dav/Dossiers", username=plain.username, password=plain.password
        )
        assert isinstance(store, NextcloudStore) and not store.is_nextcloud
        store.put("Évaluation #1.docx", b"x")
        assert (
            store.web_url("Évaluation #1.docx")
            == f"{plain.url}/dav/Dossiers/%C3%89valuation%20%231.docx"
        )
        assert "WebDAV" in store.describe()
