"""Suggestions: French words folded and stemmed, workers' words understood, recall measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from integration.cli import main
from integration.parcours.suggest import fold, query_features, suggest, words
from referentiels import Catalog
from tests.bench.bench_suggest import LABELLED, evaluate

CATALOG = Catalog.shipped()


def test_words_are_folded_and_stop_words_dropped() -> None:
    assert fold("Serpillière ŒUVRE Élagage") == "serpilliere oeuvre elagage"
    assert words("Je passe la serpillière dans l'entrée") == ["passe", "serpilliere", "entree"]


def test_workers_words_bring_the_referentiels_words() -> None:
    features = query_features("je fais la plonge")
    assert any(f.startswith("s:vaissel") for f in features)


def test_both_wordings_are_searched() -> None:
    aph = CATALOG.get("TP-APH", "2008-08-13")
    # « toilettes » is only in the plain (FALC) wording of C2.
    assert suggest([aph], "les toilettes", 1)[0].item.code == "C2"
    # « mécanisées » is only in the official wording of C4 to C6.
    assert {s.item.code for s in suggest([aph], "méthodes mécanisées", 3)} == {"C4", "C5", "C6"}


def test_several_referentiels_are_searched_together() -> None:
    refs = [CATALOG.get("CAP-EPC"), CATALOG.get("TP-AM")]
    found = {s.item.address for s in suggest(refs, "je reçois les livraisons", 3)}
    assert "TP-AM@2014-02-23#1.1" in found
    assert "CAP-EPC@2019-10-29#RNCP34947BC01-C2" in found


def test_nothing_to_suggest_for_empty_or_unknown_words() -> None:
    aph = CATALOG.get("TP-APH", "2008-08-13")
    assert suggest([aph], "   ") == []
    assert suggest([aph], "xyzzy qwerty") == []
    assert suggest([], "je nettoie") == []


def test_the_labelled_set_is_large_and_points_to_real_competences() -> None:
    examples = json.loads(LABELLED.read_text(encoding="utf-8"))["examples"]
    assert len(examples) >= 60
    assert {e["split"] for e in examples} == {"dev", "heldout"}
    for example in examples:
        for address in example["expected"]:
            ref_key = address.split("#", 1)[0]
            assert ref_key in example["referentiels"], example["id"]
            ref = CATALOG.get(*ref_key.split("@", 1))
            code = address.split("#", 1)[1]
            # A bloc is never a taggable item (issue 14): labels name compétences only.
            assert ref.has_competence(code), address


def test_top_3_recall_reaches_the_target() -> None:
    results = evaluate(CATALOG)
    assert results["dev"].recall >= 0.9, results["dev"].misses
    assert results["heldout"].recall >= 0.8, results["heldout"].misses


def test_cli_prints_the_proposals_with_scores(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPERES_VAR_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    result = runner.invoke(main, ["suggest", "--referentiel", "TP-AR", "--json",
                                  "je", "fais", "la", "plonge"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["suggestions"][0]["address"] == "TP-AR@2006-09-08#4.2"
    assert data["suggestions"][0]["score"] > 0
    text = runner.invoke(main, ["suggest", "--referentiel", "TP-OP@2003-09-11",
                                "je taille la haie"])
    assert text.exit_code == 0 and "TP-OP@2003-09-11#1.5" in text.output.splitlines()[0]
    unknown = runner.invoke(main, ["suggest", "--referentiel", "NOPE", "texte"])
    assert unknown.exit_code != 0 and "NOPE" in unknown.output
    assert not (tmp_path / "var").exists()  # a question makes no database


def test_suggest_searches_only_the_version_the_parcours_uses(tmp_path: Path) -> None:
    """Issue 14: a parcours tagged against TP APH 2008 is searched in 2008, never in the
    2013 or 2023 texts; the pages and the API use the same rule (suggestions.py)."""
    from integration.models import Role
    from integration.parcours.suggestions import suggest_for_text
    from integration.settings import Settings
    from tests.support.database import migrate
    from tests.support.parcours import (
        actor_of,
        committed,
        make_course,
        make_parcours,
        make_person,
        make_platform,
    )

    env = {"REPERES_VAR_DIR": str(tmp_path / "var"), "REPERES_SECRET_KEY": "t"}
    url = Settings(var_dir=tmp_path / "var", secret_key="t").database_url
    migrate(url)
    with committed(url) as session:
        platform = make_platform(session)
        course = make_course(session, platform)
        person = make_person(session, platform)
        parcours = make_parcours(session, person, course,
                                 referentiels=[("TP-APH", "2008-08-13")])
        who = actor_of(person, course, Role.CANDIDAT)
        found = suggest_for_text(session, who, parcours.id, "je lave les sols",
                                 catalog=Catalog.shipped(), limit=10)
        parcours_id = parcours.id
    assert found and {p.item.referentiel_version for p in found} == {"2008-08-13"}
    result = CliRunner().invoke(main, ["suggest", "--parcours", str(parcours_id), "--json",
                                       "je", "lave", "les", "sols"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["referentiels"] == ["TP-APH@2008-08-13"]
    assert all(s["address"].startswith("TP-APH@2008-08-13#") for s in data["suggestions"])
    latest = CliRunner().invoke(main, ["suggest", "--referentiel", "TP-APH", "--json",
                                       "je lave les sols"], env=env)
    assert json.loads(latest.stdout)["referentiels"] == ["TP-APH@2023-06-07"]  # in force
    assert "TP-APH@2023-06-07 is incomplete" in latest.stderr
