"""Fill a Word template with a dossier context: `render(template, context) -> bytes`.

Why docxtpl (Jinja tags typed in Word, on top of python-docx):

- The template stays an ordinary .docx. A coordinator restyles it in Word
  (styles, logo, header, colours, order of sections) and types
  ``{{ candidat.nom_complet }}`` where the name goes; no developer, no code.
  Layout written in Python with python-docx alone could only be changed by us.
- Loops and conditions are needed (blocs → compétences → tasks → photos), which
  merge fields (docx-mailmerge) cannot express; docxtpl gives all of Jinja,
  including row loops in tables (``{%tr for … %}``) and paragraph loops (``{%p``).
- Word splits ``{{ x }}`` across runs as soon as one letter is retyped; docxtpl
  already joins them back (its ``patch_xml``). Doing Jinja over raw XML ourselves
  would mean rewriting that.
- Pure Python on python-docx and Jinja, both already ours (LGPL-2.1): no office
  server to run (LibreOffice UNO, Carbone), nothing proprietary (Aspose, docx4j).
  ODT templating (relatorio, secretary) would not be what structures edit.

What docxtpl does not do by itself, this module adds:

- autoescaping on, in a Jinja sandbox (templates come from outside);
- every string of the context cleaned of characters XML 1.0 forbids, so
  ``A & B <x>``, a vertical tab or a NUL byte never break the document;
  newlines stay newlines and docxtpl turns them into line breaks;
- photos given as bytes become pictures 8 cm wide, and a photo that cannot be
  read becomes the words « photo illisible » instead of an exception;
- one exception, `TemplateError`, with a French message.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2
from docx.image.image import Image as DocxImage
from docx.opc.packuri import PackURI
from docx.parts.image import ImagePart
from docx.shared import Mm
from docxtpl import DocxTemplate, InlineImage
from jinja2.exceptions import SecurityError
from markupsafe import escape

from docx_templates._jinja import explain, make_environment
from docx_templates._package import read_template, save_document
from docx_templates.context import date_fr
from docx_templates.errors import TemplateError
from docx_templates.photos import embeddable

__all__ = ["render"]

PHOTO_WIDTH = Mm(80)
UNREADABLE_PHOTO = "[photo illisible]"

# XML 1.0 allows tab, newline and carriage return below U+0020, and no surrogate,
# U+FFFE or U+FFFF. Carriage returns, vertical tabs and form feeds (Word's own
# line and page breaks when its text is copied) become newlines first.
_FORBIDDEN = re.compile("[\x00-\x08\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NEWLINES = {0x0B: "\n", 0x0C: "\n", 0x0D: "\n"}


def clean_text(value: str) -> str:
    """`value` as a plain str that XML 1.0 accepts; line breaks kept as ``\\n``."""
    text = str(value).replace("\r\n", "\n").translate(_NEWLINES)
    return _FORBIDDEN.sub("", text)


class _Template(DocxTemplate):  # type: ignore[misc]  # docxtpl has no type hints
    def render_properties(self, context: dict[str, Any], jinja_env: Any = None) -> None:
        # Core properties are plain text set through lxml, not XML written by
        # Jinja: autoescaping there would print "&amp;" in the document title.
        env = jinja_env.overlay(autoescape=False) if jinja_env is not None else None
        super().render_properties(context, env)


class _ImagePart(ImagePart):
    @functools.cached_property
    def sha1(self) -> str:
        return hashlib.sha1(self.blob, usedforsecurity=False).hexdigest()


class _Preparer:
    """Copies the context with clean strings, and photos turned into pictures."""

    def __init__(self, tpl: DocxTemplate) -> None:
        self._tpl = tpl
        self._photos: dict[bytes, bytes | None] = {}

    def value(self, value: Any, key: str = "") -> Any:
        if isinstance(value, str):
            return clean_text(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dt.date):
            return date_fr(value)
        if isinstance(value, Mapping):
            return {clean_text(str(k)): self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, list | tuple):
            if key == "photos":
                return [self.photo(p) for p in value]
            return [self.value(v) for v in value]
        if isinstance(value, bytes | bytearray):
            return ""  # bytes print nothing outside a photo
        # Anything else (an object with __html__, say) is shown as text, never as XML.
        return clean_text(str(value))

    def photo(self, photo: Any) -> dict[str, Any]:
        if not isinstance(photo, Mapping):
            photo = {"data": photo}
        data = photo.get("data")
        blob = self._embeddable(data) if isinstance(data, bytes | bytearray) else None
        image: Any
        if blob is None:
            image = escape(UNREADABLE_PHOTO)  # Markup: printed as it is
        else:
            image = InlineImage(self._tpl, io.BytesIO(blob), width=PHOTO_WIDTH)
        extra = {k: self.value(v, k) for k, v in photo.items() if k not in ("data", "image")}
        extra.setdefault("legende", "")
        return {**extra, "image": image, "illisible": blob is None}

    def _embeddable(self, data: bytes | bytearray) -> bytes | None:
        # A task tagged to three compétences brings the same bytes three times.
        key = bytes(data)
        if key not in self._photos:
            blob = embeddable(key)
            if blob is not None and not self._add_image_part(blob):
                blob = None
            self._photos[key] = blob
        return self._photos[key]

    def _add_image_part(self, blob: bytes) -> bool:
        """Put the picture in the package now, once, with its hash computed once.

        python-docx finds an existing picture by hashing every picture part again
        for each one it inserts: with 40 photos, 0.4 s of SHA-1. InlineImage then
        finds this part by its (cached) hash instead of adding its own.
        """
        try:
            image = DocxImage.from_blob(blob)
        except Exception:
            return False
        package = self._tpl.docx.part.package
        taken = {str(part.partname) for part in package.image_parts}
        number = len(taken) + 1
        while f"/word/media/image{number}.{image.ext}" in taken:
            number += 1
        partname = PackURI(f"/word/media/image{number}.{image.ext}")
        package.image_parts.append(_ImagePart(partname, image.content_type, blob, image))
        return True


def render(template: bytes | Path, context: Mapping[str, Any]) -> bytes:
    """The .docx bytes of `template` filled with `context` (see `context.DossierContext`).

    Raises `TemplateError` (French message) when the template is not a .docx or
    its Jinja tags are wrong. A field missing from the context prints nothing.
    """
    if not isinstance(context, Mapping):
        raise TemplateError("Le contexte du dossier doit être un dictionnaire.")
    data = read_template(template)
    tpl = _Template(io.BytesIO(data))
    try:
        tpl.init_docx()
    except Exception as exc:
        raise TemplateError(f"Ce document Word ne peut pas être ouvert : {exc}.") from exc
    try:
        prepared = _Preparer(tpl).value(context)
        tpl.render(prepared, make_environment(), autoescape=True)
        # docxtpl's save() only adds media replacement, which is not used here.
        result = save_document(tpl.docx)
    except jinja2.TemplateSyntaxError as exc:
        near = " ".join(t.strip() for t in getattr(exc, "docx_context", ()) if t.strip())
        place = f", près de « {near[:120]} »" if near else ""
        raise TemplateError(f"Le modèle contient une erreur{place} : {explain(exc)}.") from exc
    except SecurityError as exc:
        raise TemplateError(
            f"Le modèle demande une opération interdite : {str(exc).rstrip('.')}."
        ) from exc
    except jinja2.TemplateError as exc:
        raise TemplateError(
            f"Le modèle n'a pas pu être rempli : {explain(exc).rstrip('.')}."
        ) from exc
    except Exception as exc:
        raise TemplateError(f"Le modèle n'a pas pu être rempli : {str(exc).rstrip('.')}.") from exc
    return result
