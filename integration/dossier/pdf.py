"""The dossier as PDF, for juries and structures that ask for it (the Word file stays the
editable original).

LibreOffice converts it headless, in a child process with a time limit (killed with
its children when late), one conversion at a time per machine (a lock file: one
LibreOffice profile, reused, so a conversion takes about a second rather than the
profile's first start). Each PDF is cached per dossier version and content
(``<var dir>/pdf-cache/<parcours id>/<dossier id>-<checksum>.pdf``): asked twice, converted
once. Without LibreOffice the button is not offered (`available`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..parcours.errors import ParcoursError

log = logging.getLogger(__name__)

PDF_TYPE = "application/pdf"
TIME_LIMIT = 90.0
CACHE_FOLDER = "pdf-cache"


class PdfUnavailable(ParcoursError):
    status = 503
    title = "Le PDF n’est pas prêt."


def soffice() -> str | None:
    """The LibreOffice program, or None when it is not installed."""
    named = os.environ.get("REPERES_SOFFICE")
    if named:
        return named if Path(named).exists() else None
    return shutil.which("soffice") or shutil.which("libreoffice")


def available() -> bool:
    return soffice() is not None


def cache_path(var_dir: Path, parcours_id: int, dossier_id: int, checksum: str) -> Path:
    return Path(var_dir) / CACHE_FOLDER / str(parcours_id) / f"{dossier_id}-{checksum[:32]}.pdf"


def forget(var_dir: Path, parcours_id: int) -> None:
    """Remove every cached PDF of a parcours (erasure)."""
    shutil.rmtree(Path(var_dir) / CACHE_FOLDER / str(parcours_id), ignore_errors=True)


def dossier_pdf(var_dir: Path, parcours_id: int, dossier_id: int, checksum: str,
                docx: bytes, *, time_limit: float = TIME_LIMIT) -> bytes:
    """The PDF of one dossier version: from the cache, or converted now (then cached)."""
    target = cache_path(var_dir, parcours_id, dossier_id, checksum)
    if target.exists():
        return target.read_bytes()
    root = Path(var_dir) / CACHE_FOLDER
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if target.exists():  # made by another request while this one waited
                return target.read_bytes()
            data = convert(docx, profile=root / "libreoffice-profile", time_limit=time_limit)
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_suffix(".part")
            temporary.write_bytes(data)
            os.replace(temporary, target)
            return data
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def convert(docx: bytes, *, profile: Path, time_limit: float = TIME_LIMIT) -> bytes:
    """A .docx converted to PDF by LibreOffice in a child process (PdfUnavailable when
    LibreOffice is missing, late or fails)."""
    program = soffice()
    if program is None:
        raise PdfUnavailable("Le PDF ne peut pas être fait ici. Téléchargez le fichier Word.")
    with tempfile.TemporaryDirectory(prefix="reperes-pdf-") as work:
        source = Path(work) / "dossier.docx"
        source.write_bytes(docx)
        started = time.perf_counter()
        child = subprocess.Popen(  # noqa: S603 - fixed program and arguments, no shell
            [program, f"-env:UserInstallation={profile.resolve().as_uri()}", "--headless",
             "--norestore", "--nologo", "--convert-to", "pdf", "--outdir", work, str(source)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        try:
            out, err = child.communicate(timeout=time_limit)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.communicate()
            log.error("PDF conversion stopped after %.0f s", time_limit)
            raise PdfUnavailable(
                "Le PDF prend trop de temps. Réessayez dans un moment, "
                "ou téléchargez le fichier Word."
            ) from None
        result = Path(work) / "dossier.pdf"
        if child.returncode != 0 or not result.exists():
            log.error("PDF conversion failed (exit %s): %s %s", child.returncode,
                      out.decode(errors="replace")[-500:], err.decode(errors="replace")[-500:])
            raise PdfUnavailable(
                "Le PDF n’a pas pu être fait. Téléchargez le fichier Word."
            )
        log.info("dossier converted to PDF in %.2f s", time.perf_counter() - started)
        return result.read_bytes()
