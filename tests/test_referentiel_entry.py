"""Issue 14: a coordinateur enters a référentiel by hand from its official document; it is
checked by the validator, seen on their platform only, offered to candidats, exported to
Moodle CSV like the others. (The keyboard-only story in Chromium: tests/test_browser_entry.py.)"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from integration.models import ReferentielRecord
from integration.parcours.catalog import load_catalog
from referentiels.importers import export_file
from tests.test_pages_support import db_of, launched, post, text_of

BLOCS = {
    "Réaliser une prestation de nettoyage manuel": [
        "Préparer son intervention", "Nettoyer les sols", "Nettoyer les sanitaires",
        "Trier et évacuer les déchets"],
    "Réaliser une prestation de nettoyage mécanisé": [
        "Laver les sols avec une machine", "Entretenir le matériel",
        "Utiliser une monobrosse", "Vérifier son travail"],
    "Réaliser une prestation de remise en état": [
        "Décaper un sol", "Protéger un sol", "Nettoyer une vitre", "Rendre compte"],
}


def entry(**changes: str) -> dict[str, str]:
    values = {"intitule": "Agent de propreté et d’hygiène (saisi)", "code": "TP-APH",
              "rncp": "RNCP37872", "certificateur": "Ministère du Travail",
              "niveau": "Niveau 3", "source": "REAC TP-00380 version 04",
              "version": "07/06/2023", "fiabilite": "officiel", "nb-blocs": "3",
              "faire": "enregistrer"}
    for b, (title, words) in enumerate(BLOCS.items(), 1):
        values[f"b{b}-intitule"] = title
        values[f"b{b}-nb"] = "4"
        for c, wording in enumerate(words, 1):
            values[f"b{b}-c{c}-intitule"] = wording
    values["b1-c2-falc"] = "je nettoie les sols"
    values["b1-c2-picto"] = "nettoyer"
    values.update(changes)
    return values


def test_a_coordinateur_enters_a_referentiel_and_a_candidat_chooses_it(demo_app: Flask):
    olivier = launched(demo_app, "coordinateur")
    page = text_of(olivier.get("/cours/referentiels/saisir"))
    assert "Saisir un référentiel" in page and "Bloc 1, compétence 4" in page
    saved = post(olivier, "/cours/referentiels/saisir", entry(),
                 token_from="/cours/referentiels/saisir")
    assert saved.status_code == 303, text_of(saved)[:2000]
    told = text_of(olivier.get(saved.headers["Location"]))
    assert "Enregistré : Agent de propreté et d’hygiène (saisi) (p1~TP-APH@2023-06-07)" in told

    with db_of(demo_app) as db:
        record = db.scalars(select(ReferentielRecord).where(
            ReferentielRecord.referentiel_id == "p1~TP-APH")).one()
        assert record.platform_id == 1 and record.source_format == "saisie"
        ref = load_catalog(db, platform_id=1, fresh=True).get("p1~TP-APH", "2023-06-07")
        # Seen on this platform only.
        assert load_catalog(db, platform_id=None, fresh=True).find("p1~TP-APH") is None
    assert len(ref.blocs) == 3 and len(list(ref.competences())) == 12
    first = ref.competence("BC01-C2")
    assert (first.falc, first.picto, first.reliability) == ("je nettoie les sols", "nettoyer",
                                                            "officiel")
    assert first.source == "REAC TP-00380 version 04 (2023-06-07)"
    assert ref.provenance.sources == ("REAC TP-00380 version 04 (2023-06-07)",)
    csv = export_file(ref, "moodle-csv")
    assert "Décaper un sol" in csv and "Nettoyer les sols" in csv

    offered = post(olivier, "/cours/referentiels", {"referentiels": "p1~TP-APH@2023-06-07"},
                   token_from="/cours/referentiels")
    assert offered.status_code == 303
    samira = launched(demo_app, "candidat1")
    choice = text_of(samira.get("/moi/referentiel/choisir"))
    assert "Agent de propreté et d’hygiène (saisi)" in choice
    chosen = post(samira, "/moi/referentiel/choisir",
                  {"referentiel": "p1~TP-APH@2023-06-07"}, token_from="/moi/referentiel/choisir")
    assert chosen.status_code == 303, text_of(chosen)[:1000]
    assert "Décaper un sol" in text_of(samira.get("/moi/referentiel"))


def test_what_the_validator_refuses_is_said_beside_the_field_and_nothing_is_lost(
    demo_app: Flask,
):
    olivier = launched(demo_app, "coordinateur")
    refused = post(olivier, "/cours/referentiels/saisir",
                   entry(code="TP APH é", source="", **{"b2-c1-intitule": "", "b2-c2-intitule": "",
                         "b2-c3-intitule": "", "b2-c4-intitule": ""}),
                   token_from="/cours/referentiels/saisir")
    assert refused.status_code == 422
    page = text_of(refused)
    assert "Il faut corriger" in page
    assert 'id="f-code-error"' in page and 'id="f-b2-c1-intitule-error"' in page
    assert "Écrivez au moins une compétence dans ce bloc." in page
    assert 'value="Réaliser une prestation de nettoyage mécanisé"' in page  # kept
    assert "Nettoyer une vitre" in page
    with db_of(demo_app) as db:
        assert db.scalars(select(ReferentielRecord)).first() is None


def test_adding_rows_keeps_what_was_typed(demo_app: Flask):
    olivier = launched(demo_app, "coordinateur")
    more = post(olivier, "/cours/referentiels/saisir", entry(faire="competence-2"),
                token_from="/cours/referentiels/saisir")
    page = text_of(more)
    assert more.status_code == 200 and 'id="f-b2-c5-intitule"' in page
    assert 'name="b2-c5-intitule" rows="2" autofocus' in page
    assert "Nettoyer une vitre" in page
    more = post(olivier, "/cours/referentiels/saisir", entry(faire="bloc"),
                token_from="/cours/referentiels/saisir")
    assert 'id="f-b4-intitule"' in text_of(more)


def test_only_the_coordinateur_enters_one(demo_app: Flask):
    for who, home in (("accompagnatrice", "/cours"), ("candidat1", "/moi/referentiel")):
        client = launched(demo_app, who)
        assert client.get("/cours/referentiels/saisir").status_code in (403, 404)
        sent = post(client, "/cours/referentiels/saisir", entry(), token_from=home)
        assert sent.status_code in (403, 404)
    with db_of(demo_app) as db:
        assert db.scalars(select(ReferentielRecord)).first() is None


def test_completing_a_referentiel_a_completer_starts_from_it(demo_app: Flask):
    olivier = launched(demo_app, "coordinateur")
    page = text_of(olivier.get("/cours/referentiels/saisir?depuis=TP-EC@2022-09-28"))
    assert 'name="code" value="TP-EC"' in page
    assert "Ou compléter un référentiel" in text_of(olivier.get("/cours/referentiels"))


def test_the_page_says_who_chooses_and_the_coordinateur_may_let_accompagnateurs_choose(
    demo_app: Flask,
):
    nadia = launched(demo_app, "accompagnatrice")
    page = text_of(nadia.get("/cours/referentiels"))
    assert "Le coordinateur choisit les référentiels du cours." in page
    assert "Pour la changer, demandez au coordinateur." in page
    assert "Importer un référentiel" not in page and 'name="referentiels"' not in page
    refused = post(nadia, "/cours/referentiels", {"referentiels": "TP-AR@2006-09-08"},
                   token_from="/cours")
    assert refused.status_code == 403
    # Only the coordinateur changes who chooses.
    assert post(nadia, "/cours/referentiels/qui-choisit", {"accompagnateurs": "oui"},
                token_from="/cours").status_code == 403

    olivier = launched(demo_app, "coordinateur")
    allowed = post(olivier, "/cours/referentiels/qui-choisit", {"accompagnateurs": "oui"},
                   token_from="/cours/referentiels")
    assert allowed.status_code == 303
    page = text_of(nadia.get("/cours/referentiels"))
    assert "Le coordinateur et les accompagnateurs choisissent" in page
    assert 'name="referentiels"' in page and "Importer un référentiel" not in page
    chosen = post(nadia, "/cours/referentiels", {"referentiels": "TP-AR@2006-09-08"},
                  token_from="/cours/referentiels")
    assert chosen.status_code == 303
    # A candidat never reaches the page.
    samira = launched(demo_app, "candidat1")
    assert samira.get("/cours/referentiels").status_code in (403, 404)
    post(olivier, "/cours/referentiels/qui-choisit", {}, token_from="/cours/referentiels")
    assert 'name="referentiels"' not in text_of(nadia.get("/cours/referentiels"))
