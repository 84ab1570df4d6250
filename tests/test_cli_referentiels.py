"""An operator lists, shows, validates, imports and exports référentiels from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from integration.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "referentiels"


@pytest.fixture
def reperes(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {"REPERES_VAR_DIR": str(tmp_path / "var"), "REPERES_SECRET_KEY": "t"}

    def run(*args: str, upgrade: bool = True):  # type: ignore[no-untyped-def]
        if upgrade:
            assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    return run


def test_list_shows_shipped_referentiels_with_status_and_source(reperes) -> None:
    result = reperes("referentiels", "list")
    assert result.exit_code == 0, result.output
    assert "TP-APH@2023-06-07\ten vigueur" in result.output
    assert "TP-APH@2008-08-13\thistorique" in result.output
    assert "source : http" in result.output


def test_list_works_before_the_database_is_migrated(reperes) -> None:
    result = reperes("referentiels", "list", upgrade=False)
    assert result.exit_code == 0
    assert "TP-AEB" in result.output


def test_list_json_prints_canonical_documents(reperes) -> None:
    result = reperes("referentiels", "list", "--json")
    documents = json.loads(result.stdout)
    assert {d["id"] for d in documents} >= {"CAP-EPC", "TP-AEB", "TP-APH"}
    assert all(d["format"] == "reperes.referentiel/1" for d in documents)


def test_show_prints_blocs_and_both_wordings(reperes) -> None:
    result = reperes("referentiels", "show", "CAP-EPC")
    assert result.exit_code == 0, result.output
    assert "en mots simples :" in result.output
    assert "certificateur" in result.output


def test_show_an_unknown_referentiel_says_so_and_fails(reperes) -> None:
    result = reperes("referentiels", "show", "NOPE")
    assert result.exit_code == 2
    assert "NOPE" in result.output


def test_validate_reports_every_problem_with_its_place(reperes, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "reperes.referentiel/1", "id": "X", "blocs": []}))
    result = reperes("referentiels", "validate", str(bad), upgrade=False)
    assert result.exit_code == 2
    assert "bad.json" in result.output


def test_moodle_csv_export_then_import_travels_both_ways(reperes, tmp_path: Path) -> None:
    out = tmp_path / "aeb.csv"
    assert reperes("referentiels", "export", "TP-AEB", "--out", str(out)).exit_code == 0
    # Importing the same framework again finds it already there, unchanged.
    result = reperes("referentiels", "import", "--format", "moodle-csv", str(out))
    assert result.exit_code == 0, result.output
    assert "added 0" in result.output and "1 already present" in result.output


def test_rncp_import_persists_for_every_instance(reperes, tmp_path: Path) -> None:
    fixture = FIXTURES / "rncp_trois_fiches.xml"
    result = reperes("referentiels", "import", "--format", "rncp-xml", str(fixture))
    assert result.exit_code == 0, result.output
    added = int(result.output.split("added ")[1].split()[0])
    assert added >= 1
    listed = reperes("referentiels", "list", "--json")
    ids = {d["id"] for d in json.loads(listed.stdout)}
    assert len(ids) > 8


def test_a_truncated_file_imports_nothing(reperes, tmp_path: Path) -> None:
    fixture = (FIXTURES / "rncp_trois_fiches.xml").read_bytes()
    broken = tmp_path / "broken.xml"
    broken.write_bytes(fixture[: len(fixture) * 2 // 3])
    result = reperes("referentiels", "import", str(broken))
    assert result.exit_code == 2
    assert "broken.xml" in result.output
    after = reperes("referentiels", "list", "--json")
    assert len(json.loads(after.stdout)) == 13
