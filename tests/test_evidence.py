"""Evidence files: type read from the bytes, metadata stripped, limits, store and rows in step."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import event, func, select

from connectors.local_store import LocalFolderStore
from connectors.storage import StorageError, Unavailable
from integration.db import transaction
from integration.models import Evidence
from integration.parcours import (
    FileTooLarge,
    Invalid,
    NotFound,
    StorageFailed,
    UnsupportedFile,
    attach_evidence,
    create_task,
    delete_evidence,
    list_evidence,
    open_evidence_file,
    restore_evidence,
)
from integration.parcours.files import HEIC_READABLE, MAX_BYTES, MEDIUM_SIDE, prepare, sniff
from tests.support import parcours as support
from tests.support.parcours import Cast

# Fixtures shared with other test modules.
sessions = support.sessions

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def phone_photo(size: tuple[int, int] = (80, 40), orientation: int = 6) -> bytes:
    """A JPEG like a phone's: turned by its EXIF tag, with the GPS position and the maker."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "PhoneMaker"
    exif[GPS_IFD] = {1: "N", 2: (50.0, 38.0, 12.0), 3: "E", 4: (3.0, 3.0, 1.0)}
    out = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


def png_with_alpha(size: tuple[int, int] = (30, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 0, 255, 128)).save(out, "PNG")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


# --- what a file really is ------------------------------------------------------------------


def test_a_phone_photo_loses_its_gps_and_keeps_its_orientation() -> None:
    original = phone_photo((80, 40), orientation=6)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(GPS_IFD)
    prepared = prepare(original)
    assert prepared.kind == "photo" and prepared.content_type == "image/jpeg"
    for data in (prepared.full, prepared.medium, prepared.preview):
        assert data is not None
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG"
        assert image.size == (40, 80)  # turned upright
        exif = image.getexif()
        assert not exif.get_ifd(GPS_IFD) and ORIENTATION not in exif
        assert b"PhoneMaker" not in data
    assert (prepared.width, prepared.height) == (40, 80)


def test_big_photos_get_a_medium_and_a_preview_copy() -> None:
    out = io.BytesIO()
    Image.new("RGB", (4000, 3000), (10, 120, 10)).save(out, "JPEG", quality=60)
    prepared = prepare(out.getvalue())
    assert prepared.medium is not None and prepared.preview is not None
    assert Image.open(io.BytesIO(prepared.medium)).size == (MEDIUM_SIDE, MEDIUM_SIDE * 3 // 4)
    assert Image.open(io.BytesIO(prepared.preview)).size == (400, 300)
    assert Image.open(io.BytesIO(prepared.full)).size == (4000, 3000)


def test_png_stays_png_and_pdf_stays_as_sent() -> None:
    png = prepare(png_with_alpha())
    assert png.content_type == "image/png" and png.extension == "png"
    assert Image.open(io.BytesIO(png.full)).format == "PNG"
    assert png.medium is not None and Image.open(io.BytesIO(png.medium)).mode == "RGB"
    pdf = prepare(PDF)
    assert (pdf.kind, pdf.full, pdf.medium, pdf.preview) == ("pdf", PDF, None, None)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", Invalid),
        (b"hello, I am a text file called photo.jpg", UnsupportedFile),
        (b"GIF89a" + b"\0" * 100, UnsupportedFile),
        (b"MZ\x90\x00 an executable", UnsupportedFile),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", UnsupportedFile),
        (b"%PDF-1.4 cut in the middle", UnsupportedFile),
        (b"\xff\xd8\xff\xe0 not really a jpeg", UnsupportedFile),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, UnsupportedFile),
    ],
    ids=["empty", "text", "gif", "exe", "svg", "cut-pdf", "fake-jpeg", "fake-png"],
)
def test_files_that_lie_about_their_type_are_refused(data: bytes, error: type) -> None:
    with pytest.raises(error):
        prepare(data)


def test_a_cut_jpeg_is_refused() -> None:
    with pytest.raises(UnsupportedFile):
        prepare(phone_photo((300, 200))[:400])


def test_a_jpeg_header_with_png_content_is_judged_by_its_bytes() -> None:
    assert sniff(png_with_alpha()) == "png"
    assert prepare(png_with_alpha()).content_type == "image/png"


def test_too_many_pixels_is_refused_before_decoding() -> None:
    for side in (9000, 15000):  # 81 Mpx: over our limit; 225 Mpx: Pillow's bomb error
        out = io.BytesIO()
        Image.new("1", (side, side)).save(out, "PNG")
        assert len(out.getvalue()) < MAX_BYTES
        with pytest.raises(FileTooLarge):
            prepare(out.getvalue())


def test_more_than_25_mb_is_refused() -> None:
    with pytest.raises(FileTooLarge):
        prepare(b"\xff\xd8\xff" + b"\0" * MAX_BYTES)


@pytest.mark.skipif(HEIC_READABLE, reason="pillow-heif is installed here")
def test_heic_without_a_reader_says_what_to_do() -> None:
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\0" * 64
    with pytest.raises(UnsupportedFile, match="photo d’iPhone"):  # plain words (issue 15)
        prepare(heic)


# --- the store and the database stay in step -----------------------------------------------------


class FailingStore(LocalFolderStore):
    """A local store whose n-th write fails, like a Nextcloud going away mid-upload."""

    def __init__(self, root: Path, fail_at: int) -> None:
        super().__init__(root)
        self.fail_at = fail_at
        self.writes = 0

    def put(self, path: str, data: Any, **kwargs: Any):  # type: ignore[no-untyped-def]
        self.writes += 1
        if self.writes == self.fail_at:
            raise Unavailable("the server went away; retry later", path=path)
        return super().put(path, data, **kwargs)


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def world(sessions):  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        cast = Cast.build(s)
        task = create_task(s, cast.actor("alice"), cast.parcours["alice"].id, {"title": "Sols"})
    cast.task_id = task.id  # type: ignore[attr-defined]
    return cast


def _evidence_count(sessions) -> int:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        return int(s.scalar(select(func.count(Evidence.id))) or 0)


def test_photo_is_stored_under_a_name_we_chose(sessions, world, tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "files")
    alice = world.actor("alice")
    with transaction(sessions) as s:
        evidence = attach_evidence(s, alice, store, world.task_id, phone_photo(),
                                   filename="../../etc/passwd\x00.jpg", caption="Le couloir")
    assert evidence.storage_path.startswith(f"evidence/{world.parcours['alice'].id}/")
    assert ".." not in evidence.storage_path and "passwd" not in evidence.storage_path
    assert evidence.original_name == "passwd.jpg"
    assert len(_files(tmp_path / "files")) == 3
    with transaction(sessions) as s:
        found = open_evidence_file(s, alice, store, evidence.id, "preview")
        assert Image.open(io.BytesIO(b"".join(found.chunks))).format == "JPEG"


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_failed_store_write_leaves_no_row_and_no_file(sessions, world, tmp_path: Path,
                                                        fail_at: int) -> None:
    store = FailingStore(tmp_path / "files", fail_at)
    with transaction(sessions) as s, pytest.raises(StorageFailed):
        attach_evidence(s, world.actor("alice"), store, world.task_id, phone_photo())
    assert _evidence_count(sessions) == 0
    assert _files(tmp_path / "files") == []


def test_a_rolled_back_transaction_removes_the_files(sessions, world, tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "files")
    with pytest.raises(RuntimeError), transaction(sessions) as s:
        attach_evidence(s, world.actor("alice"), store, world.task_id, phone_photo())
        assert len(_files(tmp_path / "files")) == 3
        raise RuntimeError("something later in the request failed")
    assert _evidence_count(sessions) == 0
    assert _files(tmp_path / "files") == []


def test_a_failed_commit_removes_the_files(sessions, world, tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "files")
    session = sessions()

    def refuse(_session: Any) -> None:
        raise StorageError("the database went away at commit")

    try:
        attach_evidence(session, world.actor("alice"), store, world.task_id, PDF)
        event.listen(session, "before_commit", refuse)
        with pytest.raises(StorageError):
            session.commit()
        session.rollback()
    finally:
        session.close()
    assert _evidence_count(sessions) == 0
    assert _files(tmp_path / "files") == []


def test_a_committed_upload_keeps_its_files(sessions, world, tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "files")
    with transaction(sessions) as s:
        attach_evidence(s, world.actor("alice"), store, world.task_id, PDF)
    with transaction(sessions) as s:
        s.execute(select(1))  # a later transaction of the same kind does not touch them
    assert len(_files(tmp_path / "files")) == 1 and _evidence_count(sessions) == 1


def test_removed_evidence_is_hidden_kept_and_restorable(sessions, world, tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "files")
    alice = world.actor("alice")
    with transaction(sessions) as s:
        evidence_id = attach_evidence(s, alice, store, world.task_id, phone_photo()).id
    with transaction(sessions) as s:
        delete_evidence(s, alice, evidence_id)
    with transaction(sessions) as s:
        assert list_evidence(s, alice, world.task_id) == []
        with pytest.raises(NotFound):
            open_evidence_file(s, alice, store, evidence_id)
        assert len(_files(tmp_path / "files")) == 3
        restore_evidence(s, alice, evidence_id)
    with transaction(sessions) as s:
        assert [e.id for e in list_evidence(s, alice, world.task_id)] == [evidence_id]


def test_another_persons_evidence_does_not_exist(sessions, world, tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "files")
    with transaction(sessions) as s:
        evidence_id = attach_evidence(s, world.actor("alice"), store, world.task_id, PDF).id
    for intruder in ("bob", "eve", "dan", "gina", "fred"):
        with transaction(sessions) as s:
            with pytest.raises(NotFound):
                open_evidence_file(s, world.actor(intruder), store, evidence_id)
            with pytest.raises(NotFound):
                attach_evidence(s, world.actor(intruder), store, world.task_id, PDF)
    assert _evidence_count(sessions) == 1


def test_a_session_closed_without_commit_removes_the_files(sessions, world,
                                                           tmp_path: Path) -> None:
    store = LocalFolderStore(tmp_path / "files")
    session = sessions()
    attach_evidence(session, world.actor("alice"), store, world.task_id, PDF)
    assert len(_files(tmp_path / "files")) == 1
    session.close()
    assert _files(tmp_path / "files") == [] and _evidence_count(sessions) == 0
