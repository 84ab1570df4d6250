"""Issue 12, low: every metadata block is stripped from evidence files.

Before the fix, JPEG comments (COM) and XMP survived re-encoding, PNG text chunks could
ride along with the colour profile, and PDF files were kept as sent, with their document
information (author, creator) and XMP stream. The hostile files are built here, segment
by segment.

The colour profile (ICC) is not kept either: it can carry text (maker, model,
description). The pixels are converted to sRGB first, so colours stay right.
"""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageCms
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from integration.parcours import UnsupportedFile
from integration.parcours.files import prepare

SECRET = b"Samira-Secret-GPS-50.6367"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description dc:creator="' + SECRET + b'"/></rdf:RDF></x:xmpmeta>'
)

# --- JPEG ------------------------------------------------------------------------------------

# What a clean baseline or progressive JPEG is made of: JFIF, tables, frame, scans.
CLEAN_JPEG_MARKERS = {0xE0, 0xDB, 0xC4, 0xC0, 0xC1, 0xC2, 0xDA, 0xDD}


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


def _icc() -> bytes:
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return bytes(profile.tobytes())


def hostile_jpeg() -> bytes:
    """A photo with a comment, XMP, IPTC, EXIF and an ICC profile, segments put in by hand."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(out, "JPEG")
    plain = out.getvalue()
    icc = _icc()
    extra = (
        _segment(0xFE, b"comment: " + SECRET)  # COM
        + _segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + XMP)  # APP1 XMP
        + _segment(0xE1, b"Exif\0\0" + b"MM\0*\0\0\0\x08\0\0" + SECRET)  # APP1 EXIF
        + _segment(0xED, b"Photoshop 3.0\x008BIM\x04\x04\0\0" + SECRET)  # APP13 IPTC
        + _segment(0xE2, b"ICC_PROFILE\0\x01\x01" + icc)  # APP2 ICC
    )
    return plain[:2] + extra + plain[2:]


def jpeg_markers(data: bytes) -> list[int]:
    """The markers of the segments before the image data (SOI and EOI left out)."""
    assert data[:2] == b"\xff\xd8"
    markers, at = [], 2
    while at < len(data):
        assert data[at] == 0xFF
        marker = data[at + 1]
        markers.append(marker)
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        at += 2 + struct.unpack(">H", data[at + 2 : at + 4])[0]
    return markers


def test_jpeg_comments_xmp_iptc_and_profile_do_not_survive_re_encoding() -> None:
    hostile = hostile_jpeg()
    with Image.open(io.BytesIO(hostile)) as opened:  # Pillow sees what we put in
        assert SECRET in opened.info["comment"] and opened.info.get("icc_profile")
    prepared = prepare(hostile)
    for name in ("full", "medium", "preview"):
        data = getattr(prepared, name)
        assert SECRET not in data and b"xmpmeta" not in data, name
        assert b"ICC_PROFILE" not in data and b"Photoshop" not in data, name
        assert set(jpeg_markers(data)) <= CLEAN_JPEG_MARKERS, (name, jpeg_markers(data))
        with Image.open(io.BytesIO(data)) as image:
            assert image.getpixel((10, 10))[0] > 150  # still red: the pixels came through


# --- PNG -------------------------------------------------------------------------------------

CLEAN_PNG_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_chunks(data: bytes) -> list[bytes]:
    kinds, at = [], 8
    while at < len(data):
        length = struct.unpack(">I", data[at : at + 4])[0]
        kinds.append(data[at + 4 : at + 8])
        at += 12 + length
    return kinds


def hostile_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 10)).save(out, "PNG")
    plain = out.getvalue()
    header_end = 8 + 12 + 13  # signature and IHDR
    extra = (
        _chunk(b"iCCP", b"sRGB\0\0" + zlib.compress(_icc()))
        + _chunk(b"tEXt", b"Author\0" + SECRET)
        + _chunk(b"zTXt", b"Comment\0\0" + zlib.compress(SECRET))
        + _chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + XMP)
        + _chunk(b"eXIf", b"MM\0*\0\0\0\x08\0\0" + SECRET)
        + _chunk(b"tIME", struct.pack(">HBBBBB", 2025, 3, 14, 9, 26, 53))
    )
    return plain[:header_end] + extra + plain[header_end:]


def test_png_text_chunks_exif_and_profile_do_not_survive() -> None:
    hostile = hostile_png()
    with Image.open(io.BytesIO(hostile)) as opened:
        assert opened.info.get("Author") == SECRET.decode()
    prepared = prepare(hostile)
    assert prepared.content_type == "image/png"
    assert SECRET not in prepared.full and b"xmpmeta" not in prepared.full
    assert set(png_chunks(prepared.full)) <= CLEAN_PNG_CHUNKS, png_chunks(prepared.full)
    for copy in (prepared.medium, prepared.preview):
        assert copy is not None and SECRET not in copy
        assert set(jpeg_markers(copy)) <= CLEAN_JPEG_MARKERS


# --- PDF -------------------------------------------------------------------------------------


def hostile_pdf() -> bytes:
    """One page saying « Attestation », with an author in /Info and XMP on the document and
    on the page."""
    writer = PdfWriter()
    page = writer.add_blank_page(300, 200)
    content = DecodedStreamObject()
    content.set_data(b"BT /F1 24 Tf 40 100 Td (Attestation) Tj ET")
    page[NameObject("/Contents")] = writer._add_object(content)
    writer.add_metadata({"/Author": SECRET.decode(), "/Creator": "SecretScanner 2.0"})
    for holder in (writer._root_object, page):
        xmp = DecodedStreamObject()
        xmp.set_data(XMP)
        xmp[NameObject("/Type")] = NameObject("/Metadata")
        xmp[NameObject("/Subtype")] = NameObject("/XML")
        holder[NameObject("/Metadata")] = writer._add_object(xmp)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdf_document_info_and_xmp_do_not_survive() -> None:
    hostile = hostile_pdf()
    assert SECRET in hostile and b"xmpmeta" in hostile
    assert PdfReader(io.BytesIO(hostile)).metadata["/Author"] == SECRET.decode()
    prepared = prepare(hostile)
    assert prepared.kind == "pdf" and prepared.content_type == "application/pdf"
    assert SECRET not in prepared.full and b"xmpmeta" not in prepared.full
    assert b"SecretScanner" not in prepared.full
    reader = PdfReader(io.BytesIO(prepared.full))
    assert not reader.metadata  # no /Info at all, not even a producer
    assert "/Metadata" not in reader.trailer["/Root"]
    assert len(reader.pages) == 1 and "/Metadata" not in reader.pages[0]
    assert b"(Attestation) Tj" in reader.pages[0].get_contents().get_data()


def test_a_pdf_with_metadata_that_cannot_be_rewritten_is_refused() -> None:
    unreadable = b"%PDF-1.4\n1 0 obj <</Author (" + SECRET + b")>> endobj\n" \
        b"trailer <</Info 1 0 R>>\n%%EOF\n"
    with pytest.raises(UnsupportedFile):
        prepare(unreadable)
