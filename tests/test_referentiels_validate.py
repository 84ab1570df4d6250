"""The canonical JSON format: every problem reported at once, exact round trip."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from referentiels import FORMAT, PICTOS, ReferentielError, check, dump, load, load_shipped, loads
from referentiels.validate import to_data

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "referentiels"
SCHEMA = Path(__file__).resolve().parent.parent / "referentiels" / "schema" / "referentiel-1.json"


def minimal() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "id": "CAP-EPC",
        "rncp": "RNCP34947",
        "intitule": "CAP Équipier polyvalent du commerce",
        "certificateur": "MINISTERE DE L'EDUCATION NATIONALE ET DE LA JEUNESSE",
        "niveau": "Niveau 3",
        "provenance": {"version": "2019-10-29", "status": "en_vigueur", "sources": ["essai"]},
        "blocs": [
            {
                "code": "BC01",
                "intitule": "Recevoir et suivre les commandes",
                "competences": [
                    {"code": "C1", "intitule": "Réceptionner"},
                    {
                        "code": "C2",
                        "intitule": "Stocker",
                        "falc": "Je range en réserve.",
                        "picto": "ranger",
                    },
                ],
            },
            {
                "code": "BC02",
                "intitule": "Mettre en valeur et approvisionner",
                "competences": [
                    {"code": "C3", "intitule": "Installer la signalétique"},
                    {"code": "C4", "intitule": "Lutter contre la démarque"},
                ],
            },
        ],
    }


def messages(data: object) -> list[str]:
    return [str(p) for p in check(data, "CAP-EPC.json")]


def test_a_correct_file_has_no_problem() -> None:
    assert check(minimal()) == []
    ref = loads(json.dumps(minimal()))
    assert ref.competence("C2").picto == "ranger"


def test_a_repeated_code_is_reported_with_file_and_json_path() -> None:
    data = minimal()
    data["blocs"][1]["competences"][1]["code"] = "C2"
    assert messages(data) == [
        "CAP-EPC.json: blocs[1].competences[1].code: code en double « C2 » "
        "(déjà en blocs[0].competences[1].code)"
    ]


def test_every_problem_of_a_bad_file_is_reported_at_once() -> None:
    with pytest.raises(ReferentielError) as caught:
        load(FIXTURES / "referentiel_plein_d_erreurs.json")
    error = caught.value
    text = str(error)
    assert error.file == "referentiel_plein_d_erreurs.json"
    assert len(error.problems) == 15
    for expected in [
        "couleur: clé inconnue « couleur »",
        "niveau: champ obligatoire manquant « niveau »",
        "id: identifiant invalide « CAP EPC »",
        "rncp: numéro RNCP invalide « 34947 »",
        "certificateur: libellé vide",
        "provenance.status: statut inconnu « abrogé » (attendu : en_vigueur ou historique)",
        "provenance.sources: liste vide",
        "provenance.complete: booléen attendu (true ou false), trouvé : texte",
        "blocs[0].competences[0].picto: pictogramme inconnu « licorne »",
        "blocs[0].competences[1].intitule: libellé vide",
        "blocs[1].code: code de bloc en double « BC01 » (déjà en blocs[0].code)",
        "blocs[1].intitule: caractère de contrôle U+0007 à la position 17",
        "blocs[1].competences[2].intitule: texte attendu, trouvé : nombre",
        "blocs[1].competences[3].code: code en double « C4 »",
        "blocs[1].competences[3].truncated: booléen attendu",
    ]:
        assert f"referentiel_plein_d_erreurs.json: {expected}" in text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.pop("blocs"), "blocs: champ obligatoire manquant « blocs »"),
        (lambda d: d.update(format="reperes.referentiel/2"), "format: format inconnu"),
        (lambda d: d.update(id="cap-épc"), "id: identifiant invalide « cap-épc »"),
        (lambda d: d.update(niveau=3), "niveau: texte attendu, trouvé : nombre"),
        (lambda d: d.update(intitule=" CAP "), "intitule: espaces au début ou à la fin du texte"),
        (lambda d: d.update(intitule="CAP\nEPC"), "intitule: caractère de contrôle U+000A"),
        (
            lambda d: d.update(intitule="Équipier pr\ufffdt"),
            "intitule: caractère de remplacement U+FFFD",
        ),
        (
            lambda d: d["provenance"].update(version="2019 10 29"),
            "provenance.version: version invalide",
        ),
        (lambda d: d["provenance"].update(status=None), "statut inconnu « null »"),
        (
            lambda d: d["provenance"].update(echeance="31/08/2025"),
            "provenance.echeance: date invalide",
        ),
        (lambda d: d["provenance"].update(notes="une note"), "provenance.notes: liste attendue"),
        (lambda d: d.update(blocs={}), "blocs: liste attendue, trouvé : objet"),
        (lambda d: d["blocs"].append("BC03"), "blocs[2]: objet attendu, trouvé : texte"),
        (
            lambda d: d["blocs"][0].update(code="BC 01"),
            "blocs[0].code: code de bloc invalide « BC 01 »",
        ),
        (lambda d: d["blocs"][0]["competences"][0].pop("code"), "code: champ obligatoire manquant"),
        (
            lambda d: d["blocs"][0]["competences"][0].update(falc=""),
            "competences[0].falc: libellé vide",
        ),
        (
            lambda d: d["blocs"][0]["competences"][0].update(vu=True),
            "competences[0].vu: clé inconnue « vu »",
        ),
    ],
)
def test_each_kind_of_problem_is_named(change: Any, expected: str) -> None:
    data = copy.deepcopy(minimal())
    change(data)
    found = messages(data)
    assert any(expected in message for message in found), found


def test_a_key_written_twice_is_reported() -> None:
    text = json.dumps(minimal()).replace(
        '"niveau": "Niveau 3"', '"niveau": "Niveau 3", "niveau": "Niveau 4"'
    )
    with pytest.raises(ReferentielError, match="niveau: clé en double « niveau »"):
        loads(text, source="CAP-EPC.json")


def test_broken_json_gives_line_and_column() -> None:
    with pytest.raises(ReferentielError) as caught:
        loads('{\n  "id": "CAP-EPC",\n  "blocs": [\n', source="CAP-EPC.json")
    assert caught.value.file == "CAP-EPC.json"
    assert caught.value.location == "ligne 4, colonne 1"
    assert "JSON invalide" in str(caught.value)


def test_a_latin1_file_is_refused_with_its_line() -> None:
    raw = json.dumps(minimal(), ensure_ascii=False, indent=1).encode("latin-1")
    with pytest.raises(
        ReferentielError, match=r"ligne 5: le fichier n'est pas en UTF-8 \(octet 0xC9"
    ):
        loads(raw, source="CAP-EPC.json")


def test_a_missing_file_is_a_referentiel_error(tmp_path: Path) -> None:
    with pytest.raises(ReferentielError, match="lecture impossible"):
        load(tmp_path / "absent.json")


def test_dump_is_sorted_pretty_utf8_and_round_trips_exactly() -> None:
    ref = loads(json.dumps(minimal()))
    text = dump(ref)
    assert "Équipier" in text and "\\u" not in text
    assert text.endswith("}\n") and text.startswith('{\n  "blocs": [')
    assert loads(text) == ref
    assert dump(loads(text)) == text
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_every_shipped_referentiel_round_trips() -> None:
    for ref in load_shipped():
        assert loads(dump(ref)) == ref
        assert check(to_data(ref)) == []


def test_a_utf8_bom_is_accepted() -> None:
    raw = b"\xef\xbb\xbf" + json.dumps(minimal()).encode("utf-8")
    assert loads(raw).id == "CAP-EPC"


def test_schema_documents_the_same_format() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["properties"]["format"]["const"] == FORMAT
    assert set(schema["properties"]) == set(minimal())
    assert schema["$defs"]["competence"]["properties"]["picto"]["enum"] == sorted(PICTOS)
    assert set(schema["$defs"]["competence"]["properties"]) == {
        "code",
        "intitule",
        "falc",
        "picto",
        "truncated",
        "note",
        "source",
        "reliability",
    }
    assert set(schema["properties"]["provenance"]["properties"]) == {
        "version",
        "status",
        "sources",
        "verified",
        "notes",
        "complete",
        "echeance",
        "active",
        "successors",
    }
