"""The storage interface and the local-folder store."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.local_store import LocalFolderStore
from connectors.storage import (
    InvalidPath,
    NotFound,
    PreconditionFailed,
    StorageError,
    Store,
    normalize_path,
    open_store,
)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# Names Nextcloud accepted in the recordings (34 to 41, 52), and must work everywhere.
SPECIAL_NAMES = [
    "Évaluation finale.docx",
    "l'entretien d'Amélie.docx",
    "dossier #1.docx",
    "50% réussite.docx",
    "a+b & c.docx",
    "Œuvre ç à ü ñ.docx",
    "Séance n°1 (l’atelier)",
    "..docx",
    "bad:colon.docx",
]


@pytest.fixture
def store(tmp_path: Path) -> LocalFolderStore:
    return LocalFolderStore(tmp_path / "files")


def sha_etag(content: bytes) -> str:
    return f'"{hashlib.sha256(content).hexdigest()}"'


# -- paths ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "/etc/passwd",
        "..",
        ".",
        "../outside.docx",
        "candidats/../../outside.docx",
        "candidats/./dossier.docx",
        "a//b.docx",
        "candidats/",
        "candidats\\dossier.docx",
        "nul\x00byte.docx",
        "line\nbreak.docx",
        "tab\there.docx",
        "del\x7f.docx",
        "c1\x85control.docx",
        ".htaccess",
        "x/.HTACCESS",
        "x" * 251 + ".docx",
        "é" * 128,
    ],
)
def test_a_bad_path_is_refused_before_anything_is_written(
    store: LocalFolderStore, bad: str
) -> None:
    with pytest.raises(InvalidPath):
        normalize_path(bad)
    with pytest.raises(InvalidPath):
        store.put(bad, b"never written")
    assert list(store.root.rglob("*")) == []


def test_a_path_that_is_not_text_is_refused() -> None:
    with pytest.raises(InvalidPath):
        normalize_path(b"bytes/path.docx")  # type: ignore[arg-type]


def test_paths_come_out_in_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", "Amélie/Évaluation finale.docx")
    assert decomposed != "Amélie/Évaluation finale.docx"
    assert normalize_path(decomposed) == "Amélie/Évaluation finale.docx"


@pytest.mark.parametrize("name", SPECIAL_NAMES)
def test_names_with_accents_and_signs_are_kept_as_given(store: LocalFolderStore, name: str) -> None:
    assert normalize_path(f"candidats/{name}") == f"candidats/{name}"
    written = store.put(f"candidats/{name}/fiche.txt", name.encode())
    assert written.path == f"candidats/{name}/fiche.txt"
    assert store.get(f"candidats/{name}/fiche.txt") == name.encode()
    assert [item.name for item in store.list("candidats")] == [name]


def test_the_root_is_accepted_only_where_a_folder_is_expected(store: LocalFolderStore) -> None:
    assert normalize_path("", allow_root=True) == ""
    assert store.list("") == []
    root = store.stat("")
    assert root is not None and root.is_folder


# -- writing and reading ---------------------------------------------------------


def test_a_dossier_is_written_in_new_folders_and_read_back(store: LocalFolderStore) -> None:
    content = b"PK\x03\x04 a docx, more or less"
    written = store.put("candidats/Amélie Martin/dossier.docx", content)

    assert written.path == "candidats/Amélie Martin/dossier.docx"
    assert written.size == len(content)
    assert written.etag == sha_etag(content)
    assert written.content_type == DOCX
    assert written.modified is not None and written.modified.tzinfo is not None
    assert store.get("candidats/Amélie Martin/dossier.docx") == content
    assert (store.root / "candidats" / "Amélie Martin" / "dossier.docx").read_bytes() == content
    assert store.stat("candidats/Amélie Martin/dossier.docx") == written
    assert store.exists("candidats/Amélie Martin")
    assert store.exists("candidats/Amélie Martin/dossier.docx")
    assert not store.exists("candidats/Amélie Martin/absent.docx")
    assert store.stat("nowhere/absent.docx") is None


def test_the_etag_follows_the_content(store: LocalFolderStore) -> None:
    first = store.put("photo.jpg", b"one")
    same = store.put("photo.jpg", b"one")
    other = store.put("photo.jpg", b"two")
    assert first.etag == same.etag
    assert other.etag != first.etag
    assert other.etag == sha_etag(b"two")


def test_a_change_made_by_a_person_changes_the_etag(store: LocalFolderStore) -> None:
    written = store.put("dossier.docx", b"generated")
    (store.root / "dossier.docx").write_bytes(b"edited by hand")
    now = store.stat("dossier.docx")
    assert now is not None and now.etag != written.etag
    assert now.etag == sha_etag(b"edited by hand")


def test_missing_files_raise_not_found(store: LocalFolderStore) -> None:
    with pytest.raises(NotFound):
        store.get("absent.docx")
    with pytest.raises(NotFound):
        store.iter_chunks("absent/folder/file.docx")
    with pytest.raises(NotFound):
        store.list("absent")


def test_a_folder_cannot_be_overwritten_by_a_file(store: LocalFolderStore) -> None:
    store.put("candidats/a.txt", b"a")
    with pytest.raises(StorageError):
        store.put("candidats", b"not a folder")
    with pytest.raises(StorageError):
        store.put("candidats/a.txt/below.txt", b"a file is in the way")


# -- conditional writes ------------------------------------------------------------


def test_if_match_with_the_current_etag_writes_and_returns_the_new_etag(
    store: LocalFolderStore,
) -> None:
    first = store.put("dossier.docx", b"version 1")
    second = store.put("dossier.docx", b"version 2", if_match=first.etag)
    assert second.etag == sha_etag(b"version 2")
    assert store.get("dossier.docx") == b"version 2"


def test_if_match_with_a_stale_etag_keeps_the_persons_edit(store: LocalFolderStore) -> None:
    first = store.put("dossier.docx", b"generated")
    (store.root / "dossier.docx").write_bytes(b"the accompagnateur's edit")

    with pytest.raises(PreconditionFailed) as caught:
        store.put("dossier.docx", b"generated again", if_match=first.etag)

    assert caught.value.current_etag == sha_etag(b"the accompagnateur's edit")
    assert store.get("dossier.docx") == b"the accompagnateur's edit"
    assert _temp_files(store) == []


def test_if_match_accepts_the_etag_without_quotes(store: LocalFolderStore) -> None:
    first = store.put("dossier.docx", b"one")
    assert first.etag is not None
    store.put("dossier.docx", b"two", if_match=first.etag.strip('"'))
    assert store.get("dossier.docx") == b"two"


def test_if_match_on_a_missing_file_fails(store: LocalFolderStore) -> None:
    with pytest.raises(PreconditionFailed):
        store.put("gone.docx", b"x", if_match=sha_etag(b"x"))
    assert not store.exists("gone.docx")


def test_if_none_match_creates_but_never_replaces(store: LocalFolderStore) -> None:
    created = store.put("nouveau.docx", b"first", if_none_match=True)
    assert created.etag == sha_etag(b"first")
    with pytest.raises(PreconditionFailed) as caught:
        store.put("nouveau.docx", b"second", if_none_match=True)
    assert caught.value.current_etag == created.etag
    assert store.get("nouveau.docx") == b"first"


def test_if_match_and_if_none_match_together_is_a_mistake(store: LocalFolderStore) -> None:
    with pytest.raises(ValueError):
        store.put("x.docx", b"x", if_match='"abc"', if_none_match=True)


def test_two_writers_with_the_same_etag_cannot_both_win(store: LocalFolderStore) -> None:
    base = store.put("dossier.docx", b"base")
    writers = 8
    barrier = threading.Barrier(writers)
    outcomes: list[str] = []

    def write(number: int) -> None:
        barrier.wait()
        try:
            store.put("dossier.docx", f"writer {number}".encode() * 1000, if_match=base.etag)
            outcomes.append("written")
        except PreconditionFailed:
            outcomes.append("refused")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["refused"] * (writers - 1) + ["written"]


def test_two_creators_cannot_both_create(store: LocalFolderStore) -> None:
    creators = 8
    barrier = threading.Barrier(creators)
    outcomes: list[str] = []

    def create(number: int) -> None:
        barrier.wait()
        try:
            store.put("candidats/new/dossier.docx", f"{number}".encode(), if_none_match=True)
            outcomes.append("created")
        except PreconditionFailed:
            outcomes.append("refused")

    threads = [threading.Thread(target=create, args=(n,)) for n in range(creators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every creator answered (none died on another error), and exactly one created the file.
    assert sorted(outcomes) == ["created"] + ["refused"] * (creators - 1)


# -- atomicity and streaming ---------------------------------------------------------


def test_a_write_that_fails_midway_leaves_the_old_file_whole(store: LocalFolderStore) -> None:
    store.put("dossier.docx", b"the complete old version")

    def broken() -> Iterator[bytes]:
        yield b"half of the new "
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError):
        store.put("dossier.docx", broken())

    assert store.get("dossier.docx") == b"the complete old version"
    assert _temp_files(store) == []


def test_readers_see_the_old_or_the_new_file_never_a_mix(store: LocalFolderStore) -> None:
    old, new = b"o" * 3_000_000, b"n" * 3_100_000
    store.put("big.bin", old)
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(hashlib.sha256(store.get("big.bin")).digest())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(5):
            store.put("big.bin", new)
            store.put("big.bin", old)
    finally:
        stop.set()
        reader.join()
    assert seen <= {hashlib.sha256(old).digest(), hashlib.sha256(new).digest()}


def test_chunks_from_a_generator_are_written_as_they_come(store: LocalFolderStore) -> None:
    produced: list[int] = []

    def chunks() -> Iterator[bytes]:
        for number in range(5):
            produced.append(number)
            yield bytes([number]) * 1_000_000

    written = store.put("big.bin", chunks())
    expected = b"".join(bytes([n]) * 1_000_000 for n in range(5))
    assert produced == [0, 1, 2, 3, 4]
    assert written.size == len(expected)
    assert written.etag == sha_etag(expected)
    assert store.get("big.bin") == expected


def test_an_open_file_is_copied_without_reading_it_whole(
    store: LocalFolderStore, tmp_path: Path
) -> None:
    source = tmp_path / "photo.jpg"
    source.write_bytes(os.urandom(300_000))
    reads: list[int] = []

    class CountingFile(io.FileIO):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            reads.append(len(data))
            return data

    with CountingFile(source) as handle:
        written = store.put("preuves/photo.jpg", handle)

    assert max(reads) < 300_000
    assert written.content_type == "image/jpeg"
    assert store.get("preuves/photo.jpg") == source.read_bytes()


def test_iter_chunks_streams_in_the_size_asked(store: LocalFolderStore) -> None:
    store.put("big.bin", b"abcdefghij" * 100)
    chunks = list(store.iter_chunks("big.bin", chunk_size=64))
    assert {len(chunk) for chunk in chunks[:-1]} == {64}
    assert b"".join(chunks) == b"abcdefghij" * 100


def test_text_is_not_a_body(store: LocalFolderStore) -> None:
    with pytest.raises(TypeError):
        store.put("note.txt", "du texte")  # type: ignore[arg-type]


# -- listing, moving, deleting ---------------------------------------------------------


def test_list_shows_files_and_folders_sorted_without_temp_files(store: LocalFolderStore) -> None:
    store.put("candidats/b.docx", b"bb")
    store.put("candidats/a.docx", b"a")
    store.put("candidats/sous-dossier/c.docx", b"c")
    (store.root / "candidats" / ".~reperes-0123.tmp").write_bytes(b"left by a crash")

    listed = store.list("candidats")

    assert [item.path for item in listed] == [
        "candidats/a.docx",
        "candidats/b.docx",
        "candidats/sous-dossier",
    ]
    assert [item.is_folder for item in listed] == [False, False, True]
    assert listed[1].size == 2


def test_list_of_a_file_is_an_error(store: LocalFolderStore) -> None:
    store.put("a.docx", b"a")
    with pytest.raises(StorageError):
        store.list("a.docx")


def test_move_refuses_to_overwrite_unless_asked(store: LocalFolderStore) -> None:
    store.put("brouillon.docx", b"draft")
    store.put("dossier.docx", b"final")

    with pytest.raises(PreconditionFailed):
        store.move("brouillon.docx", "dossier.docx")
    assert store.get("dossier.docx") == b"final"

    store.move("brouillon.docx", "dossier.docx", overwrite=True)
    assert store.get("dossier.docx") == b"draft"
    assert not store.exists("brouillon.docx")


def test_move_creates_the_target_folder_and_keeps_the_etag(store: LocalFolderStore) -> None:
    written = store.put("dossier.docx", b"content")
    store.move("dossier.docx", "archives/2027/dossier (version du 12-03-2027).docx")
    moved = store.stat("archives/2027/dossier (version du 12-03-2027).docx")
    assert moved is not None and moved.etag == written.etag
    with pytest.raises(NotFound):
        store.move("dossier.docx", "elsewhere.docx")


def test_delete_removes_files_and_folders_and_ignores_missing_ones(
    store: LocalFolderStore,
) -> None:
    store.put("candidats/x/a.docx", b"a")
    store.put("candidats/b.docx", b"b")
    store.delete("candidats/b.docx")
    store.delete("candidats/b.docx")
    store.delete("nothing/here.docx")
    store.delete("candidats/x")
    assert store.list("candidats") == []


# -- symbolic links ------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_bytes(b"not for the store")
    return folder


def test_a_link_to_a_folder_outside_is_never_followed(
    store: LocalFolderStore, outside: Path
) -> None:
    (store.root / "escape").symlink_to(outside, target_is_directory=True)

    with pytest.raises(InvalidPath):
        store.put("escape/planted.docx", b"x")
    with pytest.raises(InvalidPath):
        store.get("escape/secret.txt")
    with pytest.raises(InvalidPath):
        store.list("escape")
    with pytest.raises(InvalidPath):
        store.move("escape", "inside")

    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert [item.path for item in store.list("")] == []


def test_a_link_to_a_file_outside_is_never_read_nor_written_through(
    store: LocalFolderStore, outside: Path
) -> None:
    (store.root / "lien.txt").symlink_to(outside / "secret.txt")

    with pytest.raises(InvalidPath):
        store.get("lien.txt")
    with pytest.raises(InvalidPath):
        store.stat("lien.txt")
    with pytest.raises(InvalidPath):
        store.put("lien.txt", b"overwrite the target?")
    assert (outside / "secret.txt").read_bytes() == b"not for the store"


def test_deleting_a_link_removes_the_link_only(store: LocalFolderStore, outside: Path) -> None:
    (store.root / "escape").symlink_to(outside, target_is_directory=True)
    store.delete("escape")
    assert not (store.root / "escape").is_symlink()
    assert (outside / "secret.txt").read_bytes() == b"not for the store"


def test_the_root_itself_may_be_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "via-link").symlink_to(real, target_is_directory=True)
    store = LocalFolderStore(tmp_path / "via-link")
    store.put("a.txt", b"a")
    assert (real / "a.txt").read_bytes() == b"a"


# -- opening a store -----------------------------------------------------------------


def test_open_store_with_a_file_url_gives_a_local_folder(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/stockage%20local")
    assert isinstance(store, LocalFolderStore)
    assert isinstance(store, Store)
    assert store.root == (tmp_path / "stockage local").resolve()
    assert store.web_url("anything.docx") is None
    assert str(tmp_path) in store.describe()


@pytest.mark.parametrize(
    "url", ["file:relative/dir", "file://otherhost/dir", "ftp://host/dir", "s3://bucket/x"]
)
def test_open_store_refuses_what_it_cannot_open(url: str) -> None:
    with pytest.raises(StorageError):
        open_store(url)


def test_a_relative_root_is_refused() -> None:
    with pytest.raises(StorageError):
        LocalFolderStore("relative/dir")


def _temp_files(store: LocalFolderStore) -> list[Path]:
    return [path for path in store.root.rglob(".~reperes-*")]
