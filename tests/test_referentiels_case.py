"""Importing a 1EdTech CASE 1.0 package."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from referentiels import ReferentielError, dump, loads
from referentiels.importers import import_file
from referentiels.importers.case_json import import_package, loads_package, read_package
from tests.support.shared import DATA_DIR

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "referentiels"
SAMPLE = (
    DATA_DIR
    / "formats"
    / "case_v1p0_package_opensalt_SequenceNumberFramework.json"
)


def package() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (FIXTURES / "case_atelier_couture.json").read_text(encoding="utf-8")
    )
    return data


def test_a_case_tree_becomes_blocs_and_competences() -> None:
    ref = import_file(FIXTURES / "case_atelier_couture.json", "case")[0]
    assert (ref.id, ref.version, ref.status) == (
        "Atelier-couture-et-retouche",
        "2024-03-01",
        "en_vigueur",
    )
    assert ref.intitule == "Atelier couture et retouche"
    assert ref.certificateur == "Repères (jeu d'essai)"
    assert [(b.code, b.intitule) for b in ref.blocs] == [
        ("CT", "Préparer le travail de couture"),
        ("RT", "Accueillir le client de la retouche"),
    ]
    # Siblings follow sequenceNumber, not the order of CFItems in the file.
    assert [c.code for c in ref.blocs[0].competences] == ["CT.1", "CT.2"]
    assert ref.competence("CT.1").note == "avec un mètre ruban"
    # A third level is flattened under its bloc, and says where it was.
    assert [c.code for c in ref.blocs[1].competences] == ["RT.1", "RT.1.a"]
    assert ref.competence("RT.1.a").note == "sous RT.1"
    assert (
        "https://exemple.invalid/case/CFDocuments/7b0c6c1e-0000-4000-8000-000000000001"
        in ref.provenance.sources
    )


def test_items_attached_to_nothing_are_left_out_and_counted() -> None:
    ref = import_package(FIXTURES / "case_atelier_couture.json")
    assert not ref.has_competence("X.9")
    assert "1 CFItem(s) rattaché(s) à rien : laissés de côté" in ref.provenance.notes


def test_an_imported_package_is_valid_canonical_json() -> None:
    ref = import_package(FIXTURES / "case_atelier_couture.json")
    assert loads(dump(ref)) == ref


def test_opensalts_flat_sample_becomes_one_bloc_in_sequence_order() -> None:
    ref = import_package(SAMPLE)
    assert [b.code for b in ref.blocs] == ["B1"]
    assert [c.code for c in ref.competences()] == ["SNT.2", "SNT.1"]
    assert ref.version == "2017-11-03" and ref.certificateur == "OpenSALT Testing"


def test_a_flat_package_becomes_one_bloc_named_after_the_document() -> None:
    data = package()
    data["CFAssociations"] = [
        a
        for a in data["CFAssociations"]
        if a["destinationNodeURI"]["identifier"] == data["CFDocument"]["identifier"]
    ]
    ref = read_package(data, "plat.json")
    assert [(b.code, b.intitule) for b in ref.blocs] == [("B1", "Atelier couture et retouche")]
    assert [c.code for c in ref.competences()] == ["CT", "RT"]


def test_a_deprecated_document_is_historical_and_without_version_takes_its_date() -> None:
    data = package()
    data["CFDocument"]["adoptionStatus"] = "Deprecated"
    del data["CFDocument"]["version"]
    data["CFDocument"]["lastChangeDateTime"] = "2019-05-02T08:00:00+00:00"
    ref = read_package(data)
    assert ref.status == "historique" and ref.version == "2019-05-02"


def test_items_without_code_get_one() -> None:
    data = package()
    for item in data["CFItems"]:
        item.pop("humanCodingScheme")
    ref = read_package(data)
    assert [b.code for b in ref.blocs] == ["I2", "I3"]


def test_bad_references_are_all_reported() -> None:
    data = package()
    data["CFAssociations"][2]["originNodeURI"]["identifier"] = "i-inconnu"
    data["CFAssociations"][3]["destinationNodeURI"]["identifier"] = "i-absent"
    data["CFItems"][0]["fullStatement"] = "  "
    with pytest.raises(ReferentielError) as caught:
        read_package(data, "couture.json")
    assert [str(p) for p in caught.value.problems] == [
        "couture.json: CFItems[0].fullStatement: énoncé vide",
        "couture.json: CFAssociations[2].originNodeURI: CFItem inconnu « i-inconnu »",
        "couture.json: CFAssociations[3].destinationNodeURI: parent inconnu « i-absent »",
    ]


def test_a_loop_in_the_tree_is_refused() -> None:
    data = package()
    data["CFAssociations"].append(
        {
            "associationType": "isChildOf",
            "originNodeURI": {"identifier": "i-preparer"},
            "destinationNodeURI": {"identifier": "i-couper"},
        }
    )
    with pytest.raises(ReferentielError, match="boucle dans l'arbre"):
        read_package(data)


def test_duplicate_codes_are_refused_with_their_path() -> None:
    data = package()
    data["CFItems"][3]["humanCodingScheme"] = "CT.2"
    with pytest.raises(ReferentielError) as caught:
        read_package(data, "couture.json")
    assert str(caught.value) == (
        "couture.json: CFItems[3].humanCodingScheme: code en double « CT.2 » (déjà CFItems[0])"
    )


def test_broken_json_gives_line_and_column() -> None:
    with pytest.raises(ReferentielError) as caught:
        loads_package('{"CFDocument": {\n  "title": }', source="couture.json")
    assert caught.value.location == "ligne 2, colonne 12"


def test_a_package_without_document_is_refused() -> None:
    with pytest.raises(ReferentielError, match="CFDocument: CFDocument manquant"):
        read_package({"CFItems": []}, "vide.json")
    with pytest.raises(ReferentielError, match="un paquet CASE est un objet JSON"):
        read_package([], "liste.json")
