"""Référentiels travel to Moodle and back as competency framework CSV (tool_lpimportcsv)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest

from referentiels import Bloc, Competence, Provenance, Referentiel, ReferentielError, load_shipped
from referentiels.importers import export_file, import_file
from referentiels.importers.moodle_csv import HEADER, KEYS, export_csv, import_csv, read_csv
from tests.support.shared import DATA_DIR

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "referentiels"
SAMPLE = (
    DATA_DIR
    / "formats"
    / "moodle_lpimportcsv_example_excerpt.csv"
)


def rows(text: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text))
    next(reader)
    return [dict(zip(KEYS, line, strict=True)) for line in reader]


@pytest.mark.parametrize("ref", load_shipped(), ids=lambda r: f"{r.id}@{r.version}")
def test_every_shipped_referentiel_goes_to_moodle_and_comes_back_equal(ref: Referentiel) -> None:
    assert read_csv(export_csv(ref), source="export.csv") == ref


def test_the_export_follows_moodle_columns_and_levels() -> None:
    ref = next(r for r in load_shipped() if r.key == ("TP-AR", "2006-09-08"))
    text = export_csv(ref)
    lines = rows(text)
    framework, first_bloc, first_competence = lines[0], lines[1], lines[2]
    assert framework["isframework"] == "1" and framework["parentidnumber"] == ""
    assert framework["idnumber"] == "TP-AR@2006-09-08"
    assert framework["taxonomy"] == "domain,competency"
    assert framework["scalevalues"] == "Non,Partiellement,Oui"
    assert json.loads(framework["scaleconfiguration"])[1] == {
        "id": 3,
        "scaledefault": 1,
        "proficient": 1,
    }
    assert (first_bloc["parentidnumber"], first_bloc["idnumber"]) == ("", "CCP1")
    assert (first_competence["parentidnumber"], first_competence["idnumber"]) == ("CCP1", "1.1")
    assert "<p>En mots simples : Je prépare les aliments" in first_competence["description"]
    assert "<p>Pictogramme : cuisiner</p>" in first_competence["description"]
    assert len(lines) == 1 + 4 + 10
    assert all(len(line["shortname"]) <= 100 for line in lines)


def test_a_long_wording_is_cut_in_the_shortname_but_kept_whole() -> None:
    wording = "Emballer la commande " + "avec soin " * 20
    ref = Referentiel(
        id="TP-X",
        intitule="Essai",
        certificateur="Essai",
        niveau="Niveau 3",
        provenance=Provenance(version="1", status="en_vigueur", sources=("essai",)),
        blocs=(
            Bloc(
                "B", "Bloc", (Competence("C1", wording.strip(), truncated=True, note="a < b & c"),)
            ),
        ),
    )
    text = export_csv(ref)
    assert rows(text)[2]["shortname"].endswith("…") and len(rows(text)[2]["shortname"]) == 100
    back = read_csv(text)
    assert back == ref and back.competence("C1").truncated


def test_the_export_header_is_moodles_own() -> None:
    first = next(csv.reader(io.StringIO(export_csv(load_shipped()[0]))))
    assert first == HEADER and len(first) == 14


def test_moodles_own_sample_imports_and_its_tree_is_flattened() -> None:
    ref = import_csv(SAMPLE)
    assert ref.id == "OECD-CORE" and ref.intitule == "OECD"
    assert [b.code for b in ref.blocs] == ["levels", "competencies"]
    codes = [c.code for c in ref.blocs[1].competences]
    assert codes == ["delivery", "analytical-thinking", "DR-AT1"]
    assert ref.competence("DR-AT1").note == "sous analytical-thinking"


def test_a_framework_made_in_moodle_is_read_with_its_tree() -> None:
    ref = import_file(FIXTURES / "moodle_recyclerie.csv", "moodle-csv")[0]
    assert (ref.id, ref.version, ref.status) == ("FDE-RECYCLERIE", "1", "en_vigueur")
    assert ref.intitule == "Recyclerie de la Fabrique"
    assert ref.certificateur == "non indiqué"
    assert [b.code for b in ref.blocs] == ["collecte", "vente"]
    assert ref.blocs[0].note == "Recevoir les dons."
    assert [c.code for c in ref.blocs[0].competences] == ["accueil-dons", "tri", "tri-textile"]
    textile = ref.competence("tri-textile")
    assert textile.intitule == "Trier le textile"
    assert textile.note == "id number Moodle « tri textile »; sous tri"
    assert ref.competence("tri").note is None  # the description only repeats the name


def test_a_flat_moodle_list_becomes_one_bloc() -> None:
    text = (FIXTURES / "moodle_recyclerie.csv").read_text(encoding="utf-8")
    flat = "\n".join(
        line for line in text.splitlines() if not line.startswith(("collecte,", "tri,", "vente,"))
    )
    ref = read_csv(flat, source="plat.csv")
    assert [b.code for b in ref.blocs] == ["B1"]
    assert ref.blocs[0].intitule == "Recyclerie de la Fabrique"
    assert [c.code for c in ref.competences()] == ["collecte", "vente"]
    assert any("une seule partie" in n for n in ref.provenance.notes)


def test_bad_rows_are_all_reported_with_their_line() -> None:
    with pytest.raises(ReferentielError) as caught:
        import_csv(FIXTURES / "moodle_parent_inconnu.csv")
    assert [str(p) for p in caught.value.problems] == [
        "moodle_parent_inconnu.csv: ligne 4: parent inconnu « bloc-z » pour « c1 »",
        "moodle_parent_inconnu.csv: ligne 6: id number en double « c2 » (déjà ligne 5)",
        "moodle_parent_inconnu.csv: ligne 7: 5 colonnes au lieu de 14",
    ]


def test_a_file_without_framework_row_is_refused() -> None:
    text = (
        (FIXTURES / "moodle_recyclerie.csv")
        .read_text(encoding="utf-8")
        .replace(',1,"domain', ',,"domain')
    )
    with pytest.raises(ReferentielError, match="0 lignes « Is framework » = 1"):
        read_csv(text)


def test_an_unknown_header_is_refused() -> None:
    with pytest.raises(ReferentielError, match="ligne 1: en-tête inconnu"):
        read_csv("nom;code\nRanger;R1\n", source="autre.csv")


def test_a_latin1_csv_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    text = (FIXTURES / "moodle_recyclerie.csv").read_text(encoding="utf-8")
    path.write_bytes(text.encode("cp1252"))
    with pytest.raises(
        ReferentielError, match="latin1.csv: ligne 2: le fichier n'est pas en UTF-8"
    ):
        import_csv(path)


def test_a_semicolon_csv_with_bom_is_read() -> None:
    text = export_csv(load_shipped()[1])
    converted = io.StringIO()
    csv.writer(converted, delimiter=";", lineterminator="\n").writerows(
        csv.reader(io.StringIO(text))
    )
    assert read_csv("\ufeff" + converted.getvalue()) == load_shipped()[1]


def test_a_bloc_and_competence_sharing_a_code_cannot_go_to_moodle() -> None:
    ref = load_shipped()[0]
    bloc = ref.blocs[0]
    clashing = dataclasses.replace(
        ref,
        blocs=(
            dataclasses.replace(bloc, code=bloc.competences[0].code + "-x"),
            dataclasses.replace(ref.blocs[1], code=bloc.competences[1].code),
            *ref.blocs[2:],
        ),
    )
    with pytest.raises(ReferentielError, match="code à la fois de bloc et de compétence"):
        export_csv(clashing)


def test_export_file_names_its_formats() -> None:
    ref = load_shipped()[0]
    assert export_file(ref, "moodle-csv") == export_csv(ref)
    assert export_file(ref, "reperes-json").startswith("{")
    with pytest.raises(ReferentielError, match="format d'export inconnu"):
        export_file(ref, "pdf")
