"""The coordinateur's page: which référentiels a course offers, and importing one."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from integration.models import Course, ReferentielRecord
from tests.test_pages_support import db_of, launched, post, text_of

FIXTURES = Path(__file__).parent / "fixtures" / "referentiels"


def records(app: Flask) -> int:
    with db_of(app) as db:
        return db.scalar(select(func.count(ReferentielRecord.id))) or 0


def test_the_coordinateur_chooses_what_the_course_offers(demo_app: Flask):
    olivier = launched(demo_app, "coordinateur")
    page = olivier.get("/cours/referentiels")
    assert page.status_code == 200
    text = text_of(page)
    assert "Les référentiels du cours" in text and "historique" in text
    done = post(olivier, "/cours/referentiels",
                {"referentiels": ["CAP-EPC@2019-10-29", "TP-OP@RNCP37875"]},
                token_from="/cours/referentiels")
    assert done.status_code == 303
    assert "C’est enregistré" in text_of(olivier.get("/cours/referentiels"))
    with db_of(demo_app) as db:
        assert db.scalars(select(Course)).one().referentiels == [
            "CAP-EPC@2019-10-29", "TP-OP@RNCP37875"]
    samira = launched(demo_app, "candidat1")
    choices = text_of(samira.get("/moi/referentiel/choisir"))
    assert "Ouvrier paysagiste" in choices and "Employé commercial" not in choices
    unknown = post(olivier, "/cours/referentiels", {"referentiels": ["NOPE@1"]},
                   token_from="/cours/referentiels")
    assert unknown.status_code == 422
    assert "Le référentiel « NOPE@1 » n’existe pas ici." in text_of(unknown)


def test_only_the_coordinateur_changes_the_offer(demo_app: Flask):
    # Issue 14: the accompagnateur reads the page, which says who chooses; only the
    # coordinateur changes it (unless allowed: tests/test_referentiel_entry.py).
    nadia = launched(demo_app, "accompagnatrice")
    page = text_of(nadia.get("/cours/referentiels"))
    assert "Le coordinateur choisit les référentiels du cours." in page
    assert "Les référentiels" in text_of(nadia.get("/cours")).split("<main")[0]
    assert post(nadia, "/cours/referentiels", {"referentiels": "TP-AR@2006-09-08"},
                token_from="/cours").status_code == 403


def test_importing_a_referentiel_from_the_page(demo_app: Flask):
    olivier = launched(demo_app, "coordinateur")
    data = (FIXTURES / "moodle_recyclerie.csv").read_bytes()
    done = post(olivier, "/cours/referentiels/importer",
                {"fichier": (BytesIO(data), "recyclerie.csv"), "format": ""},
                token_from="/cours/referentiels", content_type="multipart/form-data")
    assert done.status_code == 303, text_of(done)[:2000]
    page = text_of(olivier.get("/cours/referentiels"))
    assert "Importé" in page and "Cochez-le" in page
    assert records(demo_app) == 1
    again = post(olivier, "/cours/referentiels/importer",
                 {"fichier": (BytesIO(data), "recyclerie.csv")},
                 token_from="/cours/referentiels", content_type="multipart/form-data")
    assert again.status_code == 303
    assert "déjà là" in text_of(olivier.get("/cours/referentiels"))


def test_a_broken_file_lists_its_problems_with_their_place_and_imports_nothing(demo_app: Flask):
    olivier = launched(demo_app, "coordinateur")
    data = (FIXTURES / "rncp_code_en_double.xml").read_bytes()
    refused = post(olivier, "/cours/referentiels/importer",
                   {"fichier": (BytesIO(data), "fiche.xml"), "fiche": ""},
                   token_from="/cours/referentiels", content_type="multipart/form-data")
    assert refused.status_code == 422
    text = text_of(refused)
    assert "Rien n’a été importé" in text
    assert "fiche.xml" in text  # the place: the file …
    assert ">" in text or "ligne" in text  # … and where in it
    assert records(demo_app) == 0
    wrong = post(olivier, "/cours/referentiels/importer",
                 {"fichier": (BytesIO(b"hello"), "notes.txt")},
                 token_from="/cours/referentiels", content_type="multipart/form-data")
    assert wrong.status_code == 422
    assert "Le format n’est pas reconnu" in text_of(wrong)
    nothing = post(olivier, "/cours/referentiels/importer", {},
                   token_from="/cours/referentiels", content_type="multipart/form-data")
    assert nothing.status_code == 422 and "Choisissez un fichier." in text_of(nothing)
    assert records(demo_app) == 0


def test_the_coordinateur_finds_the_last_sync_runs_from_the_course(demo_app: Flask):
    olivier = launched(demo_app, "coordinateur")
    course = olivier.get("/cours").get_data(as_text=True)
    assert 'href="/sync/runs"' in course
    assert olivier.get("/sync/runs").status_code == 200
    nadia = launched(demo_app, "accompagnatrice")
    assert 'href="/sync/runs"' not in nadia.get("/cours").get_data(as_text=True)
