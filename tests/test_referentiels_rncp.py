"""Importing fiches from the RNCP export (XML flux V4-1)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from referentiels import ReferentielError, dump, loads
from referentiels.importers import import_file
from referentiels.importers.rncp_xml import (
    import_fiche,
    iter_fiches,
    read_fiches,
    split_competences,
)
from tests.support.shared import DATA_DIR

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "referentiels"
SAMPLE = (
    DATA_DIR
    / "formats"
    / "rncp_v4_1_xml_excerpt.xml"
)


# -- splitting a LISTE_COMPETENCES --------------------------------------------

SHAPES = [
    pytest.param(
        "<ul><li>Accueillir le client</li><li>Encaisser</li></ul>",
        [(None, "Accueillir le client"), (None, "Encaisser")],
        id="simple-ul",
    ),
    pytest.param(
        "<p>Compétences :</p><ul><li>Ranger</li></ul>",
        [(None, "Ranger")],
        id="heading-paragraph-dropped",
    ),
    pytest.param(
        "<p>Le candidat est capable de :</p><ol><li>Tondre</li><li>Tailler</li></ol>",
        [(None, "Tondre"), (None, "Tailler")],
        id="capable-de-heading",
    ),
    pytest.param(
        "Ranger les produits<br>Nettoyer le rayon<br/>Trier les déchets",
        [(None, "Ranger les produits"), (None, "Nettoyer le rayon"), (None, "Trier les déchets")],
        id="br-separated",
    ),
    pytest.param(
        "<p>Ranger</p><p>Nettoyer</p>",
        [(None, "Ranger"), (None, "Nettoyer")],
        id="paragraphs",
    ),
    pytest.param(
        "- Analyser les données\n* Déployer un modèle\n• Suivre\n– Corriger",
        [
            (None, "Analyser les données"),
            (None, "Déployer un modèle"),
            (None, "Suivre"),
            (None, "Corriger"),
        ],
        id="mixed-bullets",
    ),
    pytest.param(
        "C1. Réceptionner\nC2 - Stocker\nC3 : Préparer\nC4) Livrer\nC5 – Facturer",
        [
            ("C1", "Réceptionner"),
            ("C2", "Stocker"),
            ("C3", "Préparer"),
            ("C4", "Livrer"),
            ("C5", "Facturer"),
        ],
        id="coded-items",
    ),
    pytest.param(
        "1) Réceptionner\n2. Stocker\n3 - Préparer\na) Livrer",
        [(None, "Réceptionner"), (None, "Stocker"), (None, "Préparer"), (None, "Livrer")],
        id="ordinals-are-not-codes",
    ),
    pytest.param(
        "1.1 Tondre et entretenir un gazon.\n1.2 Tailler une haie.",
        [("1.1", "Tondre et entretenir un gazon."), ("1.2", "Tailler une haie.")],
        id="dotted-codes-keep-the-final-period",
    ),
    pytest.param(
        "<ul><li>C 1 - Accueillir</li><li><strong>C2.</strong>Vendre</li>"
        "<li>CP3 Encaisser</li></ul>",
        [("C1", "Accueillir"), ("C2", "Vendre"), ("CP3", "Encaisser")],
        id="codes-with-space-and-bold",
    ),
    pytest.param(
        "<ul><li>Laver&nbsp;les sols&nbsp;;</li><li>Sécher&#160;le linge,</li>"
        "<li>R&amp;D &eacute;l&eacute;mentaire</li></ul>",
        [(None, "Laver les sols"), (None, "Sécher le linge"), (None, "R&D élémentaire")],
        id="entities-and-list-punctuation",
    ),
    pytest.param(
        "<ul><li></li><li>&nbsp;</li><li> - </li><li>Trier</li></ul><p></p>",
        [(None, "Trier")],
        id="empty-items",
    ),
    pytest.param(
        "&lt;ul&gt;&lt;li&gt;Accueillir le client&lt;/li&gt;"
        "&lt;li&gt;Vendre&lt;/li&gt;&lt;/ul&gt;",
        [(None, "Accueillir le client"), (None, "Vendre")],
        id="html-escaped-as-text",
    ),
    pytest.param(
        "<ul><li>Gérer le stock :<ul><li>réceptionner</li><li>ranger</li></ul></li>"
        "<li>Vendre</li></ul>",
        [(None, "réceptionner"), (None, "ranger"), (None, "Vendre")],
        id="nested-list-under-a-heading-item",
    ),
    pytest.param(
        "<ul><li>Servir en salle<ul><li>dresser les tables</li></ul></li></ul>",
        [(None, "Servir en salle"), (None, "dresser les tables")],
        id="nested-list-under-a-competence",
    ),
    pytest.param(
        "<ul><li>Nettoyer<br>les vitres hautes</li></ul>",
        [(None, "Nettoyer les vitres hautes")],
        id="br-inside-an-item-is-a-space",
    ),
    pytest.param(
        "- Analyser les données\\n- Déployer un modèle\\nEvaluation : test",
        [(None, "Analyser les données"), (None, "Déployer un modèle")],
        id="literal-backslash-n-and-evaluation-stop",
    ),
    pytest.param(
        "<ul><li>Ranger</li></ul><p>Modalités d'évaluation :</p>"
        "<ul><li>Mise en situation</li></ul>",
        [(None, "Ranger")],
        id="evaluation-terms-end-the-list",
    ),
    pytest.param(
        "Compétences attestées\n• Trier • Réparer • Vendre",
        [(None, "Trier"), (None, "Réparer"), (None, "Vendre")],
        id="inline-bullets-and-heading-without-colon",
    ),
    pytest.param(
        "  Accueillir   le\tclient  \n\n\n",
        [(None, "Accueillir le client")],
        id="spaces-collapsed",
    ),
    pytest.param("", [], id="empty-text"),
    pytest.param(
        "<p><strong>C1</strong></p><p>Accueillir le client</p><p>C2</p><p>Encaisser</p>",
        [("C1", "Accueillir le client"), ("C2", "Encaisser")],
        id="code-alone-on-its-line-then-wording",
    ),
    pytest.param(
        "- Évaluation des risques du poste\n- Modalités d'évaluation des acquis : écrit",
        [(None, "Évaluation des risques du poste")],
        id="a-competence-about-evaluation-is-kept",
    ),
    pytest.param(
        "Réchauffer à 63 °C < 2 h\nA partir du plan, poser les dalles",
        [(None, "Réchauffer à 63 °C < 2 h"), (None, "A partir du plan, poser les dalles")],
        id="lookalikes-are-not-tags-or-codes",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SHAPES)
def test_split_competences_reads_the_many_shapes_of_real_lists(
    text: str, expected: list[tuple[str | None, str]]
) -> None:
    assert split_competences(text) == expected


def test_a_code_without_wording_is_an_error() -> None:
    with pytest.raises(ReferentielError, match="compétence « C2 » sans libellé"):
        split_competences("<ul><li>C1. Ranger</li><li>C2.</li></ul>")
    with pytest.raises(ReferentielError, match="compétence « C1 » sans libellé"):
        split_competences("<ul><li>C1 :</li><li>C2 : Ranger</li></ul>")


# -- whole fiches -------------------------------------------------------------


def test_coordinateur_imports_every_fiche_of_an_export() -> None:
    fiches = read_fiches(FIXTURES / "rncp_trois_fiches.xml")
    assert [f.id for f in fiches] == ["RNCP90001", "RNCP90002", "RNCP90003"]
    first = fiches[0]
    assert first.rncp == "RNCP90001"
    assert first.intitule == "Agent de propreté et d'hygiène (fiche d'essai)"
    assert first.niveau == "Niveau 3" and first.certificateur == "MINISTERE DU TRAVAIL"
    assert first.version == "2023-08-13" and first.status == "en_vigueur"
    assert first.provenance.echeance == "2028-08-13"
    assert "flux 4.1" in first.provenance.verified
    assert [(c.code, c.intitule) for c in first.competences()] == [
        ("RNCP90001BC01-C1", "Organiser son intervention"),
        ("RNCP90001BC01-C2", "Nettoyer les sanitaires"),
        ("RNCP90001BC02-C1", "Laver les sols avec une autolaveuse"),
        ("RNCP90001BC02-C2", "Entretenir les moquettes"),
    ]
    assert any("attribués par Repères" in n for n in first.provenance.notes)


def test_an_inactive_fiche_is_historical_and_codes_repeated_across_blocs_are_prefixed() -> None:
    fiche = import_fiche(FIXTURES / "rncp_trois_fiches.xml", "90002")
    assert fiche.status == "historique" and fiche.version == "2019-11-26"
    assert fiche.niveau == "Niveau 3"
    assert fiche.certificateur == "MINISTERE DE L'EDUCATION NATIONALE ; MINISTERE DE L'AGRICULTURE"
    assert [c.code for c in fiche.competences()] == [
        "RNCP90002BC01-C1",
        "RNCP90002BC01-C2",
        "RNCP90002BC02-C1",
        "RNCP90002BC02-C2",
    ]
    assert fiche.competence("RNCP90002BC01-C1").intitule == "Réceptionner"


def test_codes_given_by_the_source_are_kept() -> None:
    fiche = import_fiche(FIXTURES / "rncp_trois_fiches.xml", "RNCP90003")
    assert [c.code for c in fiche.competences()] == ["C1.1", "C1.2"]
    assert fiche.provenance.notes == ()


def test_an_imported_fiche_is_valid_canonical_json() -> None:
    for fiche in read_fiches(FIXTURES / "rncp_trois_fiches.xml"):
        assert loads(dump(fiche)) == fiche


def test_import_stops_reading_once_the_wanted_fiche_is_found() -> None:
    data = (FIXTURES / "rncp_trois_fiches.xml").read_bytes()
    broken = data[: data.index(b"<NUMERO_FICHE>RNCP90003")]  # cut after the 2nd fiche
    fiche = import_fiche(io.BytesIO(broken), "RNCP90002")
    assert fiche.id == "RNCP90002"


def test_a_missing_fiche_is_named() -> None:
    with pytest.raises(
        ReferentielError, match="fiche\\(s\\) absente\\(s\\) du fichier : RNCP12345"
    ):
        import_fiche(FIXTURES / "rncp_trois_fiches.xml", "RNCP12345")


def test_iter_fiches_streams_from_an_open_file() -> None:
    with (FIXTURES / "rncp_trois_fiches.xml").open("rb") as stream:
        ids = [f.id for f in iter_fiches(stream, only=["RNCP90001", "RNCP90003"])]
    assert ids == ["RNCP90001", "RNCP90003"]


def test_html_written_as_xml_elements_is_read_too() -> None:
    fiche = import_fiche(FIXTURES / "rncp_trois_fiches.xml", "RNCP90002")
    assert fiche.blocs[0].competences[1].intitule == "Stocker"


def test_import_file_is_the_entry_point_for_the_command_line() -> None:
    refs = import_file(FIXTURES / "rncp_trois_fiches.xml", "rncp-xml", fiche="RNCP90003")
    assert [r.id for r in refs] == ["RNCP90003"]
    assert len(import_file(FIXTURES / "rncp_trois_fiches.xml")) == 3  # format from the extension


def test_the_published_sample_shape_imports() -> None:
    (fiche,) = read_fiches(SAMPLE)
    assert [c.intitule for c in fiche.competences()] == [
        "Analyser les données",
        "Déployer un modèle",
    ]
    assert fiche.version == "sans-date" and fiche.niveau == "Niveau 7"


# -- encodings ------------------------------------------------------------------


def test_a_latin1_export_that_says_so_is_read_as_latin1() -> None:
    (fiche,) = read_fiches(FIXTURES / "rncp_latin1_declare.xml")
    assert fiche.competence("RNCP90010BC01-C1").intitule == "Éplucher les légumes"
    assert fiche.certificateur == "MINISTÈRE DU TRAVAIL"
    assert not any("cp1252" in n for n in fiche.provenance.notes)


def test_a_latin1_export_without_declaration_is_repaired_and_says_so() -> None:
    (fiche,) = read_fiches(FIXTURES / "rncp_latin1_sans_declaration.xml")
    assert fiche.competence("RNCP90010BC01-C2").intitule == "Réchauffer les plats à 63 °C"
    assert any("lus comme cp1252" in n for n in fiche.provenance.notes)


def test_strict_utf8_refuses_latin1_bytes_with_the_line() -> None:
    with pytest.raises(ReferentielError) as caught:
        read_fiches(FIXTURES / "rncp_latin1_sans_declaration.xml", encoding="utf-8")
    assert caught.value.file == "rncp_latin1_sans_declaration.xml"
    assert caught.value.location == "ligne 5"
    assert "octet 0xE9 invalide en utf-8" in caught.value.message


def test_an_encoding_can_be_forced() -> None:
    (fiche,) = read_fiches(FIXTURES / "rncp_latin1_sans_declaration.xml", encoding="cp1252")
    assert fiche.certificateur == "MINISTÈRE DU TRAVAIL"
    assert not any("cp1252" in n for n in fiche.provenance.notes)


def test_a_mixed_export_keeps_utf8_and_repairs_only_the_latin1_fiche() -> None:
    utf8, latin1 = read_fiches(FIXTURES / "rncp_melange_utf8_latin1.xml")
    assert utf8.certificateur == latin1.certificateur == "MINISTÈRE DU TRAVAIL"
    assert not any("cp1252" in n for n in utf8.provenance.notes)
    assert any("cp1252" in n for n in latin1.provenance.notes)


def test_an_unknown_encoding_is_named() -> None:
    with pytest.raises(ReferentielError, match="encodage inconnu « klingon »"):
        read_fiches(FIXTURES / "rncp_trois_fiches.xml", encoding="klingon")


# -- bad input -----------------------------------------------------------------


def test_a_truncated_file_gives_line_and_column() -> None:
    with pytest.raises(ReferentielError) as caught:
        read_fiches(FIXTURES / "rncp_tronque.xml")
    assert caught.value.file == "rncp_tronque.xml"
    assert caught.value.location is not None and caught.value.location.startswith(
        "ligne 15, colonne"
    )
    assert "tronqué" in caught.value.message


def test_a_malformed_file_gives_line_and_column() -> None:
    text = b"<FICHES>\n<FICHE><NUMERO_FICHE>RNCP1</FICHE>\n</FICHES>"
    with pytest.raises(ReferentielError, match="ligne 2, colonne .*balise fermante"):
        read_fiches(io.BytesIO(text))


def test_a_fiche_without_blocs_is_refused() -> None:
    with pytest.raises(ReferentielError, match="FICHE RNCP90020: fiche sans bloc de compétences"):
        read_fiches(FIXTURES / "rncp_sans_blocs.xml")


def test_a_repeated_bloc_code_is_refused() -> None:
    with pytest.raises(ReferentielError) as caught:
        read_fiches(FIXTURES / "rncp_code_en_double.xml")
    assert [str(p) for p in caught.value.problems] == [
        "rncp_code_en_double.xml: FICHE RNCP90030 > BLOC_COMPETENCES[2] > CODE: "
        "code de bloc en double « RNCP90030BC01 » (déjà BLOC_COMPETENCES[1])"
    ]


def test_empty_competences_are_refused_and_nothing_is_half_imported() -> None:
    with pytest.raises(ReferentielError) as caught:
        import_file(FIXTURES / "rncp_competence_vide.xml", "rncp-xml")
    assert [p.location for p in caught.value.problems] == [
        "FICHE RNCP90040 > BLOC_COMPETENCES[1] > LISTE_COMPETENCES",
        "FICHE RNCP90040 > BLOC_COMPETENCES[2] > LISTE_COMPETENCES",
    ]
    assert "compétence « C2 » sans libellé" in str(caught.value)
    assert "aucune compétence" in str(caught.value)


def test_streaming_raises_at_the_first_bad_fiche_without_yielding_it() -> None:
    seen: list[str] = []
    with pytest.raises(ReferentielError):
        for fiche in iter_fiches(FIXTURES / "rncp_competence_vide.xml"):
            seen.append(fiche.id)
    assert seen == []


def test_a_doctype_is_refused() -> None:
    text = b'<?xml version="1.0"?>\n<!DOCTYPE FICHES [<!ENTITY x "xx">]>\n<FICHES></FICHES>'
    with pytest.raises(ReferentielError, match="DOCTYPE refusée"):
        read_fiches(io.BytesIO(text))


def test_another_root_element_is_refused() -> None:
    with pytest.raises(ReferentielError, match="élément racine « CATALOGUE »"):
        read_fiches(io.BytesIO(b"<CATALOGUE></CATALOGUE>"))


# -- memory ----------------------------------------------------------------------


def _many_fiches(count: int) -> bytes:
    fiche = (
        "<FICHE><NUMERO_FICHE>RNCP{n}</NUMERO_FICHE><INTITULE>Fiche {n}</INTITULE>"
        "<ACTIF>ACTIVE</ACTIF><DATE_EFFET>01/01/2024</DATE_EFFET>"
        "<NOMENCLATURE_EUROPE><NIVEAU>NIV3</NIVEAU></NOMENCLATURE_EUROPE>"
        "<CERTIFICATEURS><CERTIFICATEUR><NOM_CERTIFICATEUR>X</NOM_CERTIFICATEUR></CERTIFICATEUR></CERTIFICATEURS>"
        "<BLOCS_COMPETENCES><BLOC_COMPETENCES><CODE>RNCP{n}BC01</CODE><LIBELLE>Bloc</LIBELLE>"
        "<LISTE_COMPETENCES>&lt;ul&gt;&lt;li&gt;Ranger le stock de la réserve&lt;/li&gt;"
        "&lt;li&gt;Nettoyer les sols&lt;/li&gt;&lt;/ul&gt;</LISTE_COMPETENCES>"
        "</BLOC_COMPETENCES></BLOCS_COMPETENCES></FICHE>\n"
    )
    body = "".join(fiche.format(n=n) for n in range(1, count + 1))
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<FICHES>\n{body}</FICHES>\n'.encode()


_MEASURE = """
import io, json, sys, tracemalloc
import referentiels.importers.encoding as encoding
from referentiels.importers.rncp_xml import iter_fiches
from tests.test_referentiels_rncp import _many_fiches
encoding._CHUNK = 16 * 1024
peaks = []
for count in (200, 1000):
    stream = io.BytesIO(_many_fiches(count))
    tracemalloc.start()
    assert sum(1 for _ in iter_fiches(stream)) == count
    peaks.append(tracemalloc.get_traced_memory()[1])
    tracemalloc.stop()
print(json.dumps(peaks))
"""


def test_memory_stays_flat_while_streaming_many_fiches() -> None:
    # Measured in a process of its own: the suite's other threads (background writes,
    # refreshes) would be traced too.
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", _MEASURE], capture_output=True, text=True,
                          cwd=root, check=True)
    peaks = json.loads(done.stdout)
    # Five times more fiches must not mean more memory held.
    assert peaks[1] < peaks[0] * 1.5, peaks
