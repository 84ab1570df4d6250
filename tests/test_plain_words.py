"""Plain words on every page a candidat reads (issue 15, GLOSSARY « Accessibility »).

The demo cast walks the candidat's pages through real launches (Flask test client): the
first screen, the add form, an activity with a photo and a voice note, « À quoi ça
correspond ? », my métier, choosing it, my modalité, removed activities, a photo, the
hand-off to the phone, the pages the phone opens, and the page of an ended session.
Each page's visible text, outside « Les mots officiels » (a <details data-official>),
must hold none of the words a low-literacy reader stumbles on.
"""

from __future__ import annotations

import html
import re
from io import BytesIO

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from integration.models import (
    ActivityComment,
    Evidence,
    Parcours,
    Person,
    Review,
    TaskSeen,
    Verdict,
)
from tests.support.audio import webm_opus_bytes
from tests.test_pages_candidat import add_task, choose
from tests.test_pages_support import db_of, jpeg_bytes, launched, post

# (pattern, why): each is what the glossary asks to say otherwise.
FORBIDDEN: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"RNCP\s?\d*"), "an RNCP number: say « le diplôme »"),
    (re.compile(r"\b[A-Z]{2,}[-\d]*BC\d+(-C\d+)?\b|\bBC\d{2}(-C\d+)?\b|\bC\d{1,2}\.\d"),
     "a code like BC01-C1"),
    (re.compile(r"\bbloc\s+n", re.IGNORECASE), "« Bloc n° »"),
    (re.compile(r"\b(PDF|HEIC|HEIF|JPEG|JPG|PNG|Word|docx|WebM|MP3)\b"), "a file format"),
    (re.compile(r"\bversions?\b", re.IGNORECASE), "« version »"),
    (re.compile(r"r[ée]f[ée]rentiel", re.IGNORECASE), "« référentiel »: « mon métier »"),
    (re.compile(r"titre professionnel", re.IGNORECASE), "« Titre professionnel »"),
    (re.compile(r"\b[A-ZÀÂÇÉÈÊËÎÏÔÛÙÜ]{4,}\b"), "a word in capitals"),
    (re.compile(r"\d+\s+comp[ée]tences?\s+sur\s+\d+", re.IGNORECASE),
     "a counter: « 3 choses montrées sur 14 »"),
    (re.compile(r"Retirer ce lien"), "« Retirer ce lien »: « Ce n’est pas ça »"),
]

_OFFICIAL = re.compile(r"<details[^>]*data-official[^>]*>.*?</details>", re.DOTALL)
_HIDDEN = re.compile(r"<(script|style|svg|template)\b.*?</\1>", re.DOTALL | re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")


def visible_text(page: str) -> str:
    """What a reader sees: no official wording, no markup, no scripts or pictures."""
    page = _OFFICIAL.sub(" ", page)
    page = _HIDDEN.sub(" ", page)
    # The accessible name of a picture is read too: keep the alt texts.
    page = re.sub(r'<img[^>]*\balt="([^"]*)"[^>]*>', r" \1 ", page)
    page = _TAGS.sub(" ", page)
    return re.sub(r"\s+", " ", html.unescape(page))


def offences(text: str) -> list[str]:
    found = []
    for pattern, why in FORBIDDEN:
        for match in pattern.finditer(text):
            start = max(0, match.start() - 40)
            found.append(f"{why}: …{text[start:match.end() + 40]}…")
    return found


def test_the_checker_finds_what_it_must():
    assert offences(visible_text("<p>Bloc n° 2 (RNCP34947BC01-C1)</p>"))
    assert offences(visible_text("<p>Envoyez un PDF</p>"))
    assert offences(visible_text("<p>MINISTERE DU TRAVAIL</p>"))
    assert offences(visible_text("<p>0 compétence sur 14 avec une preuve</p>"))
    assert not offences(visible_text(
        '<details class="x" data-official><summary>Les mots officiels</summary>'
        "RNCP35317 Titre professionnel</details><p>3 choses montrées sur 14</p>"))


@pytest.fixture()
def story(demo_app: Flask) -> tuple[FlaskClient, dict[str, int]]:
    """Samira's space with what each page can show: a métier, an activity with a photo, a
    voice note and a compétence, the accompagnatrice's words."""
    candidat = launched(demo_app)
    choose(candidat)
    task_id = add_task(candidat, "Je mets les vêtements en rayon", photo=jpeg_bytes())
    post(candidat, f"/moi/activites/{task_id}/photos",
         {"voice": (BytesIO(webm_opus_bytes()), "blob")},
         token_from=f"/moi/activites/{task_id}", content_type="multipart/form-data")
    page = candidat.get(f"/moi/activites/{task_id}/competences").get_data(as_text=True)
    code = re.findall(r'name="competence_code" value="([^"]+)"', page)[0]
    post(candidat, f"/moi/activites/{task_id}/competences",
         {"referentiel_id": "CAP-EPC", "referentiel_version": "2019-10-29",
          "competence_code": code}, token_from=f"/moi/activites/{task_id}/competences")
    removed = add_task(candidat, "Je plie les pulls")
    post(candidat, f"/moi/activites/{removed}/retirer", token_from=f"/moi/activites/{removed}")
    launched(demo_app, "accompagnatrice")  # Nadia exists
    with db_of(demo_app) as db:
        parcours = db.scalars(select(Parcours)).one()
        nadia = db.scalars(select(Person).where(Person.given_name == "Nadia")).one()
        db.add(Review(parcours_id=parcours.id, referentiel_id="CAP-EPC",
                      referentiel_version="2019-10-29", competence_code=code,
                      verdict=Verdict.OUI, comment="Bien vu en rayon.", reviewer_id=nadia.id,
                      reviewer_name="NADIA L."))
        db.add(TaskSeen(person_id=nadia.id, task_id=task_id))
        db.add(ActivityComment(task_id=task_id, parcours_id=parcours.id, author_id=nadia.id,
                               author_name="Nadia L.", comment="Ajoutez une photo du rayon."))
        evidence = db.scalar(select(Evidence.id).where(Evidence.task_id == task_id,
                                                         Evidence.kind == "photo"))
    return candidat, {"task": task_id, "evidence": evidence or 0}


def candidat_pages(ids: dict[str, int]) -> list[str]:
    t = ids["task"]
    pages = ["/moi", "/moi/activites/nouvelle", f"/moi/activites/{t}",
             f"/moi/activites/{t}/competences", f"/moi/activites/{t}/competences?nouvelle=1",
             f"/moi/activites/{t}/modifier", "/moi/activites/retirees", "/moi/referentiel",
             "/moi/referentiel/choisir", "/moi/modalite", "/moi/telephone"]
    if ids["evidence"]:
        pages.append(f"/preuve/{ids['evidence']}")
    return pages


def test_every_candidat_page_speaks_plain_words(demo_app: Flask, story):
    candidat, ids = story
    seen = {}
    for path in candidat_pages(ids):
        response = candidat.get(path)
        assert response.status_code == 200, path
        text = visible_text(response.get_data(as_text=True))
        seen[path] = offences(text)
    assert {p: o for p, o in seen.items() if o} == {}
    first = visible_text(candidat.get("/moi").get_data(as_text=True))
    assert "Nadia a regardé 1 activité" in first  # the avis reaches the first screen
    assert "Mon métier : Équipier polyvalent du commerce" in first
    activity = visible_text(candidat.get(f"/moi/activites/{ids['task']}").get_data(as_text=True))
    assert "Nadia a dit : Oui" in activity and "Ma note de voix" in activity


def test_the_pages_the_phone_and_an_ended_session_show_speak_plain_words(
        demo_app: Flask, client: FlaskClient, story):
    stranger = demo_app.test_client()
    for path in ("/telephone", "/t/un-code-inconnu", "/moi", "/moi/activites/nouvelle"):
        response = stranger.get(path)
        text = visible_text(response.get_data(as_text=True))
        assert offences(text) == [], path
    ended = visible_text(stranger.get("/moi").get_data(as_text=True))
    assert "Rouvrez Repères depuis votre cours Moodle" in ended
    assert "Revenir à l’accueil" not in ended  # it looped: / needs a session too
