"""A dossier made from a parcours through the real services opens in LibreOffice.

One LibreOffice run for the whole module: it converts two dossiers to PDF at once (a
real parcours, and one full of hostile content). Skipped without ``soffice``, except in
CI where that fails (tests.support.components).
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pypdf import PdfReader

from integration.dossier.build import context_for, generate_dossier
from tests.support import components
from tests.test_dossier_support import (
    Story,
    add_hostile_tasks,
    docx_media,
    make_runtime,
    tell_story,
)

pytestmark = pytest.mark.libreoffice


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


@dataclass
class Converted:
    story: Story
    context: dict[str, object]
    docx: bytes
    text: str
    hostile_docx: bytes
    hostile_text: str


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Converted]:
    soffice = components.soffice_path()
    components.require(
        soffice is not None, "LibreOffice (soffice)", "apt-get install libreoffice-writer-nogui"
    )
    assert soffice is not None
    work = tmp_path_factory.mktemp("dossier-lo")
    database_url = f"sqlite:///{work / 'reperes.sqlite3'}"
    runtime = make_runtime(database_url, work / "var")
    story = tell_story(runtime, database_url)
    context = context_for(runtime, story.actor("alice"), story.parcours_id)
    made = generate_dossier(runtime, story.actor("alice"), story.parcours_id)
    bob = story.cast.parcours["bob"].id
    add_hostile_tasks(runtime, story.actor("bob"), bob)
    hostile = generate_dossier(runtime, story.actor("bob"), bob)
    (work / "alice.docx").write_bytes(made.data)
    (work / "hostile.docx").write_bytes(hostile.data)
    result = subprocess.run(
        [soffice, f"-env:UserInstallation={(work / 'profile').as_uri()}", "--headless",
         "--norestore", "--convert-to", "pdf", "--outdir", str(work),
         str(work / "alice.docx"), str(work / "hostile.docx")],
        capture_output=True, text=True, timeout=240, check=False,
    )
    texts = []
    for name in ("alice", "hostile"):
        pdf = work / f"{name}.pdf"
        assert pdf.exists(), f"LibreOffice did not convert {name}: {result.stdout} {result.stderr}"
        texts.append(_fold("\n".join(p.extract_text() or "" for p in PdfReader(pdf).pages)))
    yield Converted(story, context, made.data, texts[0], hostile.data, texts[1])
    runtime.engine.dispose()


def test_the_jury_reads_the_candidat_her_competences_her_words_and_the_reviews(
    converted: Converted,
) -> None:
    text, t = converted.text, converted.story.texts
    assert "Alice Martin" in text
    tagged = [c for bloc in converted.context["blocs"]  # type: ignore[attr-defined]
              for c in bloc["competences"]]
    assert [c["code"] for c in tagged] == ["C1", "C2", "C3", "C4"]
    for competence in tagged:
        # Headings in plain words; the codes in the jury's annex, beside the official words.
        assert _fold(competence["falc"]) in text
        assert _fold(f"{competence['code']} {competence['intitule']}") in text
        assert _fold(f"Mots du référentiel : {competence['intitule']}") in text
    for key in ("bureaux", "bureaux_how", "toilettes", "machine", "module", "projet"):
        assert _fold(t[key]) in text, key
    assert _fold(f"« {t['review_oui']} »") in text
    assert _fold(f"« {t['review_partiel']} »") in text
    assert "Carla Durand" in text


def test_the_photos_are_in_the_document(converted: Converted) -> None:
    assert len(docx_media(converted.docx)) == 2
    assert "Le couloir, photo 1" in converted.text and "Photo :" not in converted.text
    assert "Le couloir, photo 2" in converted.text


def test_a_dossier_full_of_hostile_content_still_opens(converted: Converted) -> None:
    text = converted.hostile_text
    assert "[photo illisible]" in text
    assert 'A & B <x> "guillemets" ]]> &amp; {{ candidat.nom }}' in text
    assert "FIN" in text
    # The 10 000-character word wraps over many lines of the PDF.
    assert text.count("x" * 40) >= 100
