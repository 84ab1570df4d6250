"""Issue 14: an RNCP référentiel's échéance, active flag and successors, read from the export,
told to the coordinateur, listed by the command line; an expired one stays readable."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from integration.cli import main
from referentiels import load_shipped
from referentiels.importers.rncp_xml import NO_CERTIFICATEUR, read_fiches
from referentiels.lifecycle import expiry_message, lifecycle, successors_in
from tests.test_pages_support import launched, text_of

# An export with an expired fiche and the fiche that replaces it. The element names are
# those of the RNCP export « flux V4-1 » (ACTIF, DATE_FIN_ENREGISTREMENT,
# NOUVELLE_CERTIFICATION); the successor has no CERTIFICATEURS, as some fiches.
EXPORT = """<?xml version="1.0" encoding="UTF-8"?>
<FICHES>
  <VERSION_FLUX>4.1</VERSION_FLUX>
  <FICHE>
    <NUMERO_FICHE>RNCP34947</NUMERO_FICHE>
    <INTITULE>Equipier polyvalent du commerce</INTITULE>
    <ETAT_FICHE>Publiée</ETAT_FICHE>
    <ACTIF>Non</ACTIF>
    <DATE_EFFET>2020-09-01</DATE_EFFET>
    <DATE_FIN_ENREGISTREMENT>31/08/2025</DATE_FIN_ENREGISTREMENT>
    <NOUVELLE_CERTIFICATION><NUMERO_FICHE>RNCP40994</NUMERO_FICHE></NOUVELLE_CERTIFICATION>
    <NOMENCLATURE_EUROPE><NIVEAU>NIV3</NIVEAU></NOMENCLATURE_EUROPE>
    <CERTIFICATEURS><CERTIFICATEUR><NOM_CERTIFICATEUR>MINISTERE DE L'EDUCATION NATIONALE
    </NOM_CERTIFICATEUR></CERTIFICATEUR></CERTIFICATEURS>
    <BLOCS_COMPETENCES><BLOC_COMPETENCES><CODE>RNCP34947BC01</CODE>
      <LIBELLE>Recevoir et suivre les commandes</LIBELLE>
      <LISTE_COMPETENCES>- Réceptionner\n- Stocker</LISTE_COMPETENCES>
    </BLOC_COMPETENCES></BLOCS_COMPETENCES>
  </FICHE>
  <FICHE>
    <NUMERO_FICHE>RNCP40994</NUMERO_FICHE>
    <INTITULE>Equipier polyvalent du commerce</INTITULE>
    <ETAT_FICHE>Publiée</ETAT_FICHE>
    <ACTIF>Oui</ACTIF>
    <DATE_EFFET>2025-09-01</DATE_EFFET>
    <DATE_FIN_ENREGISTREMENT>2030-08-31</DATE_FIN_ENREGISTREMENT>
    <NOMENCLATURE_EUROPE><NIVEAU>NIV3</NIVEAU></NOMENCLATURE_EUROPE>
    <BLOCS_COMPETENCES><BLOC_COMPETENCES><CODE>RNCP40994BC01</CODE>
      <LIBELLE>Recevoir et suivre les commandes</LIBELLE>
      <LISTE_COMPETENCES>- Réceptionner\n- Stocker</LISTE_COMPETENCES>
    </BLOC_COMPETENCES></BLOCS_COMPETENCES>
  </FICHE>
</FICHES>
""".replace("\\n", "\n")

AFTER = dt.date(2026, 12, 1)


def test_the_rncp_importer_reads_echeance_active_flag_and_successors() -> None:
    old, new = read_fiches(io.BytesIO(EXPORT.encode("utf-8")))
    assert old.provenance.echeance == "2025-08-31" and old.provenance.active is False
    assert old.provenance.successors == ("RNCP40994",)
    assert new.provenance.active is True and new.provenance.successors == ()
    assert lifecycle(old, AFTER).status == "expire"
    assert lifecycle(new, AFTER).status == "en_vigueur"
    assert successors_in(old, [old, new]) == [new]


def test_a_successor_written_as_text_is_read_too() -> None:
    text = EXPORT.replace(
        "<NOUVELLE_CERTIFICATION><NUMERO_FICHE>RNCP40994</NUMERO_FICHE></NOUVELLE_CERTIFICATION>",
        "<NOUVELLE_CERTIFICATION>RNCP40994</NOUVELLE_CERTIFICATION>")
    old, _ = read_fiches(io.BytesIO(text.encode("utf-8")))
    assert old.provenance.successors == ("RNCP40994",)


def test_a_fiche_without_certificateurs_is_imported_with_a_warning() -> None:
    _, new = read_fiches(io.BytesIO(EXPORT.encode("utf-8")))
    assert new.certificateur == NO_CERTIFICATEUR
    assert any("aucun certificateur" in note for note in new.provenance.notes)


def test_an_expired_referentiel_says_until_when_it_was_delivered() -> None:
    epc = next(r for r in load_shipped() if r.key == ("CAP-EPC", "2019-10-29"))
    assert expiry_message(epc, AFTER) == "n'est plus délivré après le 31/08/2025"
    psr = next(r for r in load_shipped() if r.key == ("CAP-PSR", "2019-10-29"))
    assert lifecycle(psr, AFTER).successors == ("RNCP42120",)
    aph = next(r for r in load_shipped() if r.key == ("TP-APH", "2023-06-07"))
    assert aph.rncp == "RNCP37872" and lifecycle(aph, AFTER).echeance == "2028-08-13"
    assert expiry_message(aph, AFTER) is None


@pytest.fixture
def reperes(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"REPERES_VAR_DIR": str(tmp_path / "var"), "REPERES_SECRET_KEY": "t"}

    def run(*args: str):  # type: ignore[no-untyped-def]
        assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return run


def test_list_json_shows_status_echeance_successors_and_completeness(reperes) -> None:
    result = reperes("referentiels", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = {(d["id"], d["provenance"]["version"]): d for d in json.loads(result.stdout)}
    for document in listed.values():
        assert set(document["lifecycle"]) == {"status", "echeance", "active", "successors",
                                              "expired"}
        assert set(document["completeness"]) == {"complete", "missing", "complete_blocs"}
    epc = listed[("CAP-EPC", "2019-10-29")]
    assert epc["lifecycle"]["echeance"] == "2025-08-31"
    assert epc["lifecycle"]["successors"] == ["RNCP40994"]
    assert epc["lifecycle"]["status"] == "expire" and epc["completeness"]["complete"]
    aph = listed[("TP-APH", "2023-06-07")]
    assert aph["completeness"]["complete"] is False and aph["completeness"]["missing"]
    assert aph["lifecycle"]["status"] == "en_vigueur"


def test_list_text_says_a_completer_and_no_longer_delivered(reperes) -> None:
    output = reperes("referentiels", "list").output
    assert "à compléter" in output and "n'est plus délivré après le 31/08/2025" in output
    assert "successeur(s) : RNCP42120" in output


def test_the_coordinateur_is_told_what_is_missing_and_what_expired(demo_app: Flask) -> None:
    olivier = launched(demo_app, "coordinateur")
    page = text_of(olivier.get("/cours/referentiels"))
    assert "n'est plus délivré après le 31/08/2025" in page
    assert "importez-la depuis l’export RNCP" in page  # RNCP40994 is not held here
    assert "À compléter. Il manque" in page
    assert "aucun bloc de compétences connu" in page


def test_an_expired_referentiel_stays_readable_for_a_parcours_that_uses_it(
    demo_app: Flask,
) -> None:
    from tests.test_pages_support import post

    samira = launched(demo_app, "candidat1")
    chosen = post(samira, "/moi/referentiel/choisir", {"referentiel": "CAP-EPC@2019-10-29"},
                  token_from="/moi/referentiel/choisir")
    assert chosen.status_code == 303, text_of(chosen)[:500]
    page = text_of(samira.get("/moi/referentiel"))
    assert "recevoir les réclamations courantes" in page


# The same export with a successor whose second compétence is worded differently: moving a
# parcours carries the identical one over and lists the other.
MOVED_EXPORT = EXPORT.replace(
    "<LIBELLE>Recevoir et suivre les commandes</LIBELLE>\n"
    "      <LISTE_COMPETENCES>- Réceptionner\n- Stocker</LISTE_COMPETENCES>\n"
    "    </BLOC_COMPETENCES></BLOCS_COMPETENCES>\n  </FICHE>\n</FICHES>",
    "<LIBELLE>Recevoir et suivre les commandes</LIBELLE>\n"
    "      <LISTE_COMPETENCES>- Réceptionner\n- Stocker les produits\n- Étiqueter"
    "</LISTE_COMPETENCES>\n"
    "    </BLOC_COMPETENCES></BLOCS_COMPETENCES>\n  </FICHE>\n</FICHES>",
)


def test_an_export_with_an_expired_fiche_and_its_successor_moves_a_parcours_when_asked(
    demo_app: Flask,
) -> None:
    from sqlalchemy import select

    from integration.models import HistoryEntry, Parcours, ParcoursReferentiel, Person, Tag, Task
    from tests.test_pages_support import db_of, post

    assert "Stocker les produits" in MOVED_EXPORT
    olivier = launched(demo_app, "coordinateur")
    imported = post(olivier, "/cours/referentiels/importer",
                    {"fichier": (io.BytesIO(MOVED_EXPORT.encode()), "export.xml")},
                    token_from="/cours/referentiels", content_type="multipart/form-data")
    assert imported.status_code == 303, text_of(imported)[:800]

    # What the coordinateur is told: no longer delivered, and the successor held here.
    page = text_of(olivier.get("/cours/referentiels"))
    assert "n'est plus délivré après le 31/08/2025" in page
    assert "Le remplaçant : Equipier polyvalent du commerce (p1~RNCP40994@2025-09-01)" in page

    # A parcours tagged against the old fiche before it expired.
    samira = launched(demo_app, "candidat1")
    assert samira.get("/moi").status_code == 200
    old_key, new_key = "p1~RNCP34947@2020-09-01", "p1~RNCP40994@2025-09-01"
    with db_of(demo_app) as db:
        parcours = db.scalars(select(Parcours).join(Person).where(
            Person.sub == "demo-samira")).one()
        parcours.referentiels.append(ParcoursReferentiel(
            referentiel_id="p1~RNCP34947", referentiel_version="2020-09-01"))
        task = Task(parcours=parcours, title="Je range la réserve", source="workplace")
        db.add(task)
        db.flush()
        for code in ("RNCP34947BC01-C1", "RNCP34947BC01-C2"):
            db.add(Tag(task_id=task.id, referentiel_id="p1~RNCP34947",
                       referentiel_version="2020-09-01", competence_code=code))
        parcours_id, task_id = parcours.id, task.id

    # Nothing moves by itself: the parcours keeps its version and stays readable.
    page = text_of(samira.get("/moi/referentiel"))
    assert "Réceptionner" in page and "Stocker" in page

    # The coordinateur sees what moving would do, before anything changes.
    page = text_of(olivier.get("/cours/referentiels/versions"))
    assert "Samira" in page and "n'est plus délivré après le 31/08/2025" in page
    assert "1 lien repris" in page and "1 lien à revoir" in page
    assert "RNCP34947BC01-C2 « Stocker »" in page

    # Nobody else may move it: an accompagnateur, the candidat.
    for other in (launched(demo_app, "accompagnatrice"), samira):
        refused = post(other, "/cours/referentiels/versions",
                       {"parcours": str(parcours_id), "ancien": old_key, "nouveau": new_key})
        assert refused.status_code in (403, 404)
    with db_of(demo_app) as db:
        row = db.scalars(select(ParcoursReferentiel).where(
            ParcoursReferentiel.parcours_id == parcours_id)).one()
        assert (row.referentiel_id, row.referentiel_version) == ("p1~RNCP34947", "2020-09-01")

    moved = post(olivier, "/cours/referentiels/versions",
                 {"parcours": str(parcours_id), "ancien": old_key, "nouveau": new_key},
                 token_from="/cours/referentiels/versions")
    assert moved.status_code == 303
    told = text_of(olivier.get(moved.headers["Location"]))
    assert "1 lien(s) repris" in told and "RNCP34947BC01-C2 « Stocker »" in told

    with db_of(demo_app) as db:
        row = db.scalars(select(ParcoursReferentiel).where(
            ParcoursReferentiel.parcours_id == parcours_id)).one()
        assert (row.referentiel_id, row.referentiel_version) == ("p1~RNCP40994", "2025-09-01")
        tags = {(t.referentiel_id, t.referentiel_version, t.competence_code) for t in
                db.scalars(select(Tag).where(Tag.task_id == task_id))}
        assert tags == {("p1~RNCP40994", "2025-09-01", "RNCP40994BC01-C1"),
                        ("p1~RNCP34947", "2020-09-01", "RNCP34947BC01-C2")}
        entry = db.scalars(select(HistoryEntry).where(
            HistoryEntry.parcours_id == parcours_id,
            HistoryEntry.action == "referentiels.moved")).one()
        assert entry.detail["old"] == old_key and entry.detail["new"] == new_key
        assert entry.detail["carried"] == 1 and entry.detail["left"] == ["RNCP34947BC01-C2 (1)"]

    # The candidat's page now reads the new version; the untouched tag is kept.
    page = text_of(samira.get("/moi/referentiel"))
    assert "Stocker les produits" in page and "Étiqueter" in page
    # Nothing left to move.
    assert "Aucun parcours de ce cours" in text_of(olivier.get("/cours/referentiels/versions"))


def _zip_of(tmp_path: Path, xml: str) -> Path:
    import zipfile

    path = tmp_path / "export-rncp.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export_fiches_CPF_2026_12_01.xml", xml)
    return path


UNRELATED = """  <FICHE>
    <NUMERO_FICHE>RNCP99999</NUMERO_FICHE>
    <INTITULE>Une fiche que personne n'utilise</INTITULE>
    <ACTIF>Oui</ACTIF>
    <DATE_EFFET>2024-01-01</DATE_EFFET>
    <NOMENCLATURE_EUROPE><NIVEAU>NIV3</NIVEAU></NOMENCLATURE_EUROPE>
    <BLOCS_COMPETENCES><BLOC_COMPETENCES><CODE>RNCP99999BC01</CODE>
      <LIBELLE>Faire</LIBELLE><LISTE_COMPETENCES>- Faire une chose</LISTE_COMPETENCES>
    </BLOC_COMPETENCES></BLOCS_COMPETENCES>
  </FICHE>
"""


def test_update_from_the_national_export_zip_records_what_changed(reperes, tmp_path: Path):
    # The shipped CAP EPC is RNCP34947: the export's fiche of that number is « in use »;
    # its successor comes later in the file and is read too; the unrelated fiche is not.
    xml = EXPORT.replace("<FICHE>\n    <NUMERO_FICHE>RNCP34947", UNRELATED.lstrip()
                         + "  <FICHE>\n    <NUMERO_FICHE>RNCP34947", 1)
    export = _zip_of(tmp_path, xml)
    result = reperes("referentiels", "update", "--progress", str(export))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "export export-rncp.zip (export_fiches_CPF_2026_12_01.xml)" in out
    assert ("RNCP34947 Equipier polyvalent du commerce : nouvelle version RNCP34947@2020-09-01"
            " ; avant : CAP-EPC@2019-10-29 ; ") in out
    assert "n'est plus délivré après le 31/08/2025 ; successeur(s) : RNCP40994" in out
    assert "RNCP40994 Equipier polyvalent du commerce : ajouté RNCP40994@2025-09-01" in out
    assert "RNCP99999" not in out
    assert "2 fiche(s) ajoutée(s), 0 inchangée(s), 0 refusée(s)" in out
    assert "Mo lus sur" in result.stderr  # progress, asked for

    listed = {(d["id"], d["provenance"]["version"]): d for d in json.loads(
        reperes("referentiels", "list", "--json").stdout)}
    new = listed[("RNCP34947", "2020-09-01")]
    assert any("par rapport à CAP-EPC@2019-10-29" in n for n in new["provenance"]["notes"])
    assert new["lifecycle"]["successors"] == ["RNCP40994"]

    again = reperes("referentiels", "update", str(export))
    assert "0 fiche(s) ajoutée(s), 2 inchangée(s)" in again.stdout
    assert "Mo lus sur" not in again.stderr  # quiet when not on a terminal (cron)
    named = reperes("referentiels", "update", "--fiche", "RNCP99999", str(export))
    assert "RNCP99999 Une fiche que personne n'utilise : ajouté" in named.stdout


def test_update_reads_a_plain_xml_and_says_a_missing_fiche(reperes, tmp_path: Path):
    path = tmp_path / "export.xml"
    path.write_text(EXPORT, encoding="utf-8")
    result = reperes("referentiels", "update", "--dry-run", "--fiche", "RNCP12345", str(path))
    assert result.exit_code == 0, result.output
    assert "absente(s) de l'export : " in result.stdout and "RNCP12345" in result.stdout
    assert "(essai)" in result.stdout
    listed = {d["id"] for d in json.loads(reperes("referentiels", "list", "--json").stdout)}
    assert "RNCP40994" not in listed  # a dry run stores nothing
