"""Importers: RNCP export XML, Moodle competency CSV, CASE 1.0 JSON.

`import_file` is the one entry point for the command line and the web layer.
"""

from __future__ import annotations

import os
from pathlib import Path

from referentiels.errors import ReferentielError
from referentiels.importers.case_json import import_package
from referentiels.importers.moodle_csv import export_csv, import_csv
from referentiels.importers.rncp_xml import read_fiches
from referentiels.model import Referentiel
from referentiels.validate import dump

FORMATS = ("rncp-xml", "moodle-csv", "case")


def guess_format(path: str | os.PathLike[str]) -> str:
    """The format of a file from its extension: .xml, .csv or .json."""
    suffix = Path(path).suffix.lower()
    found = {".xml": "rncp-xml", ".csv": "moodle-csv", ".json": "case"}.get(suffix)
    if found is None:
        raise ReferentielError(
            f"format inconnu pour l'extension « {suffix} » : précisez-le "
            f"({', '.join(FORMATS)})",
            file=Path(path).name,
        )
    return found


def import_file(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    fiche: str | list[str] | None = None,
    *,
    encoding: str | None = None,
) -> list[Referentiel]:
    """Every référentiel of one file, all or nothing.

    `fmt`: one of `FORMATS`, guessed from the extension when None. `fiche`: for
    ``rncp-xml``, the fiche number(s) to keep (``"RNCP34947"``); without it every
    fiche of the file is read into memory, so give it for a national export.
    `encoding`: for ``rncp-xml`` only, see `referentiels.importers.encoding`.
    `ReferentielError` carries every problem found, each with file and place.
    """
    fmt = fmt or guess_format(path)
    if fmt == "rncp-xml":
        only = [fiche] if isinstance(fiche, str) else fiche
        return read_fiches(path, only, encoding=encoding)
    if fiche is not None:
        raise ReferentielError(f"le choix d'une fiche ne vaut que pour rncp-xml, pas {fmt}")
    if fmt == "moodle-csv":
        return [import_csv(path)]
    if fmt == "case":
        return [import_package(path)]
    raise ReferentielError(f"format inconnu « {fmt} » (connus : {', '.join(FORMATS)})")


def export_file(ref: Referentiel, fmt: str) -> str:
    """The text of `ref` in an export format: ``moodle-csv`` or ``reperes-json``."""
    if fmt == "moodle-csv":
        return export_csv(ref)
    if fmt == "reperes-json":
        return dump(ref)
    raise ReferentielError(f"format d'export inconnu « {fmt} » (connus : moodle-csv, reperes-json)")


__all__ = ["FORMATS", "export_file", "guess_format", "import_file"]
