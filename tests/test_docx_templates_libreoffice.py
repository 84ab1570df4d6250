"""The rendered dossier opens in a real office suite: LibreOffice headless converts it to PDF.

One conversion for the sample dossier, one for the hostile one; each costs seconds.
Skipped when ``soffice`` is missing, except in CI (``CI=true``) where it fails
(tests.support.components).
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from pathlib import Path

import pytest
from pypdf import PdfReader

from docx_templates import DEFAULT_TEMPLATE, render, sample_context
from docx_templates.samples import hostile_context
from tests.support import components

pytestmark = pytest.mark.libreoffice


def _soffice() -> str:
    found = components.soffice_path()
    components.require(
        found is not None, "LibreOffice (soffice)", "apt-get install libreoffice-writer-nogui"
    )
    assert found is not None
    return found


def _to_pdf_text(docx_bytes: bytes, workdir: Path) -> tuple[str, int]:
    """Convert with a fresh profile; return the PDF's text, whitespace folded, and its pages."""
    soffice = _soffice()
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "dossier.docx"
    source.write_bytes(docx_bytes)
    profile = (workdir / "profile").as_uri()
    result = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(workdir),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    pdf = workdir / "dossier.pdf"
    assert pdf.exists(), f"LibreOffice did not convert: {result.stdout} {result.stderr}"
    reader = PdfReader(pdf)
    text = "\n".join(page.extract_text() or "" for page in reader.pages)
    return _fold(text), len(reader.pages)


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


@pytest.fixture(scope="module")
def sample_pdf(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    data = render(DEFAULT_TEMPLATE, sample_context())
    return _to_pdf_text(data, tmp_path_factory.mktemp("lo-sample"))


@pytest.fixture(scope="module")
def hostile_pdf(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    ctx = hostile_context()
    ctx["candidat"]["nom_complet"] = "Nom & <Prénom> 👩‍🌾"
    data = render(DEFAULT_TEMPLATE, ctx)
    return _to_pdf_text(data, tmp_path_factory.mktemp("lo-hostile"))


def test_jury_reads_the_candidat_work_in_the_pdf(sample_pdf: tuple[str, int]) -> None:
    text, pages = sample_pdf
    assert pages >= 5
    assert "Sandrine Delattre" in text
    every = [c for bloc in sample_context()["blocs"] for c in bloc["competences"]]
    for c in every:
        # Headings in plain words; the codes in the jury's annex, beside the official words.
        assert _fold(c["falc"]) in text and _fold(f"{c['code']} {c['intitule']}") in text
        assert _fold(f"Mots du référentiel : {c['intitule']}") in text
        for task in c["taches"]:
            assert _fold(task["titre"]) in text
            assert _fold(task["description"]) in text
        if c["revue"]["commentaire"]:
            assert _fold(f"« {c['revue']['commentaire']} »") in text
    assert "Page 3 sur" in text
    assert "Notes du jury" in text


def test_hostile_dossier_still_converts(hostile_pdf: tuple[str, int]) -> None:
    text, pages = hostile_pdf
    assert pages >= 5
    assert "Nom & <Prénom>" in text
    assert "[photo illisible]" in text
    assert 'A & B <x> "guillemets" ]]> &amp; {{ candidat.nom }}' in text
