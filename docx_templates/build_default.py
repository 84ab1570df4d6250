"""Build the default template, ``docx_templates/dossier-de-preuves.docx``.

    python -m docx_templates.build_default [OUTPUT]

Also rewrites the field list of README.md from `context.py`.

The template is written from code so that a change to it is a readable diff
here (`_build_base`: page, styles, XML helpers; `_build_sections`: the sections),
and the .docx beside this file is its output, committed. A structure that
wants its own look opens that .docx in Word, changes styles and words, keeps the
``{{ … }}`` and ``{%p … %}`` tags, and uploads it (README.md).

Deterministic: fixed core-property dates, no thumbnail, every zip entry dated
1980-01-01 in a fixed order. Two builds with the same python-docx and zlib give
the same bytes (a test checks this, and that the committed file has the same
content as a fresh build).
"""

from __future__ import annotations

import io
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from docx import Document

from docx_templates import _build_base as base
from docx_templates import _build_sections as sections
from docx_templates.context import readme_with_fields

DEFAULT_TEMPLATE = Path(__file__).with_name("dossier-de-preuves.docx")
README = Path(__file__).with_name("README.md")
ZIP_DATE = (1980, 1, 1, 0, 0, 0)

# Kept importable from here: tests and people read the names of the styles and the grid.
WORDS, OFFICIAL, NOTE, CELL, PHOTO, LABEL = (
    base.WORDS, base.OFFICIAL, base.NOTE, base.CELL, base.PHOTO, base.LABEL
)
GRID_WIDTHS = sections.GRID_WIDTHS


def build() -> bytes:
    """The default template's bytes."""
    doc = Document()
    base.page(doc)
    base.styles(doc)
    base.settings(doc)
    base.properties(doc)
    base.header_footer(doc)
    # python-docx's blank document starts with no paragraph; add content in order.
    sections.cover(doc)
    sections.contents(doc)
    sections.me(doc)
    sections.referentiels(doc)
    sections.grid(doc)
    sections.blocs(doc)
    sections.also(doc)
    sections.training(doc)
    sections.remaining(doc)
    sections.project(doc)
    sections.jury(doc)
    raw = io.BytesIO()
    doc.save(raw)
    return _stable_zip(raw.getvalue())


def _stable_zip(data: bytes) -> bytes:
    """The same archive with fixed dates and attributes, so that a rebuild is identical."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst,
    ):
        for name in src.namelist():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(name), compresslevel=9)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Write the template (to OUTPUT if given) and, by default, README.md's field list."""
    args = list(sys.argv[1:] if argv is None else argv)
    target = Path(args[0]) if args else DEFAULT_TEMPLATE
    data = build()
    target.write_bytes(data)
    print(f"{target} ({len(data)} octets)")
    if not args:
        README.write_text(readme_with_fields(README.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"{README} (liste des champs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
