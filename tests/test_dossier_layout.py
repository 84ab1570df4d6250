"""The dossier the jury accepts as it is (issue 16), checked on the PDF LibreOffice makes.

A parcours with tagged and untagged activities, Moodle modules, photos and a voice note,
made through the services; the .docx is converted by `integration.dossier.pdf` (the
download's own code) and read page by page with pypdf:

- everything written is there (« Ce que je fais aussi », « Formation », the voice note),
  except the activity the candidat left out;
- no page whose only text is a heading or an instruction;
- each activity's title on the same page as its first photo.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from docx_templates._build_sections import SECTIONS
from integration import parcours as services
from integration.db import transaction
from integration.dossier import pdf
from integration.dossier.build import generate_dossier
from integration.models import Evidence, TaskSource
from tests.support import components
from tests.support.parcours import jpeg_bytes, make_task
from tests.test_dossier_support import Story, make_runtime, tell_story

pytestmark = pytest.mark.libreoffice

UNTAGGED = {  # title -> caption of its first photo ("" : no photo)
    "Je sors les poubelles le lundi": "Les bacs sortis dans la cour",
    "Je plie les draps de la laverie": "Les draps pliés au carré",
    "Je lave les vitres du magasin": "",
}
LEFT_OUT = "Une activité que je garde pour moi"
VOICE_NOTE = "Je raconte comment je fais les vitres"
MODULE_ALONE = "Module gestes et postures"
# Words that are only a heading or an instruction: a page of these alone is a blank page.
INSTRUCTIONS = {
    *SECTIONS.values(), "Sommaire", "Comment je montre mes compétences",
    "Les codes du référentiel", "Notes du jury", "Autres observations", "Mises en perspective",
    "Pour la suite du projet du candidat.", "À écrire avec mon accompagnateur :",
    "Cette partie est remplie par le jury pendant l'entretien.",
    "Les modules de formation que j'ai terminés.",
    "D'autres activités de mon travail, pas encore rattachées au diplôme.",
}


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().replace("’", "'")


@dataclass
class Made:
    story: Story
    pages: list[str]  # folded text of each page
    lines: list[list[str]]  # each page's lines, header and footer left out
    images: list[int]  # pictures on each page


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    components.require(pdf.available(), "LibreOffice (soffice)",
                       "apt-get install libreoffice-writer-nogui")
    work = tmp_path_factory.mktemp("dossier-layout")
    database_url = f"sqlite:///{work / 'reperes.sqlite3'}"
    runtime = make_runtime(database_url, work / "var")
    story = tell_story(runtime, database_url, photos=2)
    alice = story.actor("alice")
    with transaction(runtime.sessions) as session:
        parcours = services.get_parcours(session, alice, story.parcours_id)
        for number, (title, caption) in enumerate(UNTAGGED.items()):
            task = services.create_task(session, alice, story.parcours_id, {
                "title": title, "description": "Je le fais chaque semaine, avec soin.\n" * 3,
                "where": "La Fabrique", "frequency": "Chaque semaine"})
            if caption:
                for n in range(2):
                    services.attach_evidence(session, alice, runtime.store, task.id,
                                             jpeg_bytes((900, 1200), (30 * number, 90, 40 * n)),
                                             caption=caption if n == 0 else f"{caption} ({n})")
            else:
                path = f"evidence/{story.parcours_id}/voix-{task.id}.ogg"
                note = b"OggS\x00\x02" + b"\x00" * 58  # a voice note's first bytes
                runtime.store.put(path, note)
                runtime.kept_files.put(path, note)
                session.add(Evidence(task_id=task.id, kind="audio", storage_path=path,
                                     content_type="audio/ogg", size=len(note), sha256="0" * 64,
                                     caption=VOICE_NOTE, created_by_id=alice.person_id))
        left = services.create_task(session, alice, story.parcours_id, {"title": LEFT_OUT})
        services.update_task(session, alice, left.id, {"out_of_dossier": True})
        make_task(session, parcours, title=MODULE_ALONE, source=TaskSource.MOODLE,
                  moodle_cmid=9, moodle_completed=True,
                  moodle_completed_at=datetime(2025, 1, 20, 9, 0, tzinfo=UTC))
    docx = generate_dossier(runtime, alice, story.parcours_id, publish=False).data
    data = pdf.convert(docx, profile=work / "profile")
    (work / "dossier.pdf").write_bytes(data)
    reader = PdfReader(io.BytesIO(data))
    raw = [page.extract_text() or "" for page in reader.pages]
    lines = []
    for text in raw:
        kept = [_fold(line) for line in text.splitlines() if _fold(line)]
        kept = [line for line in kept if not re.fullmatch(r"Page \d+ sur \d+", line)
                and not line.endswith("· Dossier de preuves")]
        lines.append(kept)
    yield Made(story, [_fold(t) for t in raw], lines, [len(p.images) for p in reader.pages])
    runtime.engine.dispose()


def _page_of(made: Made, words: str) -> int:
    found = [i for i, text in enumerate(made.pages) if _fold(words) in text]
    assert found, f"« {words} » is not in the PDF"
    return found[0]


def test_every_activity_module_and_voice_note_is_in_the_dossier(made: Made) -> None:
    text = " ".join(made.pages)
    t = made.story.texts
    for title in (t["bureaux"], t["toilettes"], t["machine"], *UNTAGGED):
        assert _fold(title) in text, title
    assert _page_of(made, "Ce que je fais aussi") <= _page_of(made, "Je plie les draps")
    assert _fold(f"Note vocale : « {VOICE_NOTE} »") in text
    formation = _page_of(made, "Les modules de formation que j'ai terminés.")
    assert _fold(MODULE_ALONE) in made.pages[formation] + made.pages[formation + 1]
    assert _fold(t["module"]) in text
    assert _fold(LEFT_OUT) not in text  # the candidat's choice
    assert "Ce qui reste à montrer" not in text and "Pas encore d'activité" not in text
    assert "Photo :" not in text and "photo illisible" not in text
    assert "Tâche" not in text
    assert "Carla Durand" in made.pages[_page_of(made, "Je suis accompagné")]


def test_the_contents_list_is_complete_when_opened(made: Made) -> None:
    contents = made.pages[_page_of(made, "Sommaire")]
    for title in ("Moi et ma structure", "Mon positionnement", "Ce que je fais aussi",
                  "Formation", "Pour le jury"):
        assert re.search(re.escape(_fold(title)) + r" ?\.{3,} ?\d+", contents), title
    assert "Mettre à jour" not in contents


def test_no_page_is_only_a_heading_or_an_instruction(made: Made) -> None:
    for number, lines in enumerate(made.lines, start=1):
        rest = [line for line in lines if line not in {_fold(w) for w in INSTRUCTIONS}]
        assert rest, f"page {number} holds only {lines}"


def test_each_activity_title_is_on_the_page_of_its_first_photo(made: Made) -> None:
    t = made.story.texts
    firsts = {t["bureaux"]: "Le couloir, photo 1",
              **{title: caption for title, caption in UNTAGGED.items() if caption}}
    for title, caption in firsts.items():
        for index, text in enumerate(made.pages):
            if _fold(title) in text:
                assert _fold(caption) in text, f"« {title} » is apart from its photo"
                assert made.images[index] >= 1


def test_the_pdf_is_cached_per_dossier_version(tmp_path: Path) -> None:
    """Asked again, the same version is read from the cache, not converted."""
    target = pdf.cache_path(tmp_path, 1, 7, "ab" * 32)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"%PDF-cached")
    assert pdf.dossier_pdf(tmp_path, 1, 7, "ab" * 32, b"ignored") == b"%PDF-cached"
    pdf.forget(tmp_path, 1)
    assert not target.exists()


ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "dossier"


def test_the_sample_dossier_pages_are_saved_for_a_look(tmp_path: Path) -> None:
    """Every page of the sample dossier at 60 dpi in test-artifacts/dossier/ (people look
    at them: « page-01.png »…), and the same checks on it."""
    import shutil
    import subprocess

    from docx_templates import DEFAULT_TEMPLATE, render, sample_context

    components.require(shutil.which("pdftoppm") is not None, "pdftoppm", "apt-get install "
                       "poppler-utils")
    data = pdf.convert(render(DEFAULT_TEMPLATE, sample_context()), profile=tmp_path / "lo")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    (ARTIFACTS / "sample.pdf").write_bytes(data)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(ARTIFACTS / "sample.pdf"),
                    str(ARTIFACTS / "page")], check=True, timeout=120)
    pages = PdfReader(io.BytesIO(data)).pages
    assert len(list(ARTIFACTS.glob("page-*.png"))) == len(pages)
    for number, page in enumerate(pages, start=1):
        lines = [_fold(x) for x in (page.extract_text() or "").splitlines() if _fold(x)]
        body = [x for x in lines if not re.fullmatch(r"Page \d+ sur \d+", x)
                and not x.endswith("· Dossier de preuves")]
        assert [x for x in body if x not in {_fold(w) for w in INSTRUCTIONS}], number
