"""The .docx file itself: reading a template (is it one?) and writing the result."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from docx.opc.pkgwriter import PackageWriter
from lxml import etree

from docx_templates.errors import TemplateError

_DOCUMENT = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
_TEMPLATE = "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml"
_MACRO_TYPES = (
    "application/vnd.ms-word.document.macroEnabled.main+xml",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# A real template is well under a megabyte of XML plus its pictures.
_MAX_UNPACKED = 200 * 1024 * 1024
_SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def read_template(template: bytes | Path | str) -> bytes:
    """The bytes of a .docx template; `TemplateError` if it is missing or not a .docx.

    A Word template (.dotx) is accepted and read as the document it describes.
    """
    if isinstance(template, bytes | bytearray | memoryview):
        data = bytes(template)
    else:
        try:
            data = Path(template).read_bytes()
        except OSError as exc:
            raise TemplateError(f"Le modèle « {template} » ne peut pas être lu : {exc}.") from exc
    return docx_bytes(data)


def docx_bytes(data: bytes) -> bytes:
    """`data` itself when it is a .docx, a converted copy for a .dotx, else `TemplateError`."""
    if data.startswith(_OLE_MAGIC):
        raise TemplateError(
            "Ce fichier est au format Word 97-2003 (.doc) ou protégé par un mot de passe. "
            "Ouvrez-le dans Word et enregistrez-le au format « Document Word (.docx) », "
            "sans mot de passe."
        )
    if not data.startswith(b"PK"):
        raise TemplateError("Ce fichier n'est pas un document Word (.docx).")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            if sum(info.file_size for info in zf.infolist()) > _MAX_UNPACKED:
                raise TemplateError("Ce fichier est trop gros pour être un modèle de document.")
            if "mimetype" in names and "content.xml" in names:
                raise TemplateError(
                    "Ce fichier est un document OpenDocument (.odt). Dans LibreOffice, "
                    "enregistrez-le au format « Word 2007-365 (.docx) »."
                )
            if "[Content_Types].xml" not in names:
                raise TemplateError("Ce fichier est une archive zip, pas un document Word (.docx).")
            content_types = zf.read("[Content_Types].xml")
            root = etree.fromstring(content_types, _SAFE_XML)
    except zipfile.BadZipFile as exc:
        raise TemplateError("Ce fichier n'est pas un document Word (.docx) lisible.") from exc
    except etree.XMLSyntaxError as exc:
        raise TemplateError("Ce document Word est abîmé (liste des parties illisible).") from exc
    types = {el.get("ContentType", "") for el in root}
    if _DOCUMENT in types:
        return data
    if _TEMPLATE in types:
        return _as_document(data, content_types)
    if any(t in types for t in _MACRO_TYPES):
        raise TemplateError(
            "Ce document contient des macros (.docm ou .dotm). "
            "Enregistrez-le au format « Document Word (.docx) »."
        )
    raise TemplateError("Ce fichier n'est pas un document Word (.docx).")


def _as_document(data: bytes, content_types: bytes) -> bytes:
    """A .dotx differs from a .docx only by the content type of its main part."""
    fixed = content_types.replace(_TEMPLATE.encode(), _DOCUMENT.encode())
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            blob = fixed if info.filename == "[Content_Types].xml" else src.read(info)
            dst.writestr(info, blob)
    return out.getvalue()


# Members already compressed by their own format: deflating them again costs time
# (about 0.5 s for 15 MB of photos) and saves nothing.
_STORED_SUFFIXES = (".jpeg", ".jpg", ".png", ".gif")


class _ZipWriter:
    """python-docx's physical package writer, storing pictures instead of deflating them."""

    def __init__(self, out: io.BytesIO) -> None:
        self._zip = zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED)

    def write(self, pack_uri: str, blob: bytes) -> None:
        name = pack_uri[1:]  # PackURI.membername: no leading slash
        stored = name.startswith("word/media/") and name.lower().endswith(_STORED_SUFFIXES)
        kind = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        self._zip.writestr(name, blob, compress_type=kind)

    def close(self) -> None:
        self._zip.close()


def save_document(document: Any) -> bytes:
    """The .docx bytes of a python-docx document, as `Document.save` writes them.

    Same parts in the same order as python-docx's `PackageWriter.write`, with the
    one change above. If a python-docx release renames the steps used here, fall
    back to the ordinary save: slower, never wrong.
    """
    package = document.part.package
    out = io.BytesIO()
    write_types, write_rels, write_parts = (
        getattr(PackageWriter, name, None)
        for name in ("_write_content_types_stream", "_write_pkg_rels", "_write_parts")
    )
    if not (write_types and write_rels and write_parts):
        document.save(out)
        return out.getvalue()
    parts = list(package.parts)
    for part in parts:
        part.before_marshal()
    writer = _ZipWriter(out)
    write_types(writer, parts)
    write_rels(writer, package.rels)
    write_parts(writer, parts)
    writer.close()
    return out.getvalue()
