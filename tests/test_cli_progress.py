"""Long commands show progress on a terminal and stay quiet under cron (issue 18).

On a terminal (standard error a TTY): a line rewritten in place (« \\r ») with people,
courses, calls, files, bytes and the share done. Under cron (standard error not a TTY):
nothing while it runs, the one-line summary at the end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from integration import models as m
from integration.cli import main
from integration.cli import progress as progress_module
from integration.cli.progress import Progress, duration, line
from tests.test_privacy import _story
from tests.test_sync_cli import env as sync_env
from tests.test_sync_support import (  # noqa: F401  (fixtures)
    DAY1,
    World,
    fake_moodle_fixture,
    fast_client,
    world_fixture,
)

FIXTURES = Path(__file__).parent / "fixtures" / "referentiels"


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard error is a terminal someone watches; every step is drawn."""
    monkeypatch.setattr(progress_module, "stderr_is_terminal", lambda: True)
    monkeypatch.setattr(Progress, "every", 0.0)


def _drawn(stderr: str) -> bool:
    """A progress line was drawn (log lines may be there: they are not progress)."""
    return "\r" in stderr or " · " in stderr


# --- the line itself ------------------------------------------------------------------------


def test_the_line_counts_people_courses_calls_and_guesses_the_time_left() -> None:
    text = line({"personnes": (30, 120), "cours": (1, 4), "appels": 57}, 0.25, 40.0)
    assert text == ("30/120 personnes · 1/4 cours · 57 appels · 25 % · "
                    "reste environ 2 min 00 s")
    assert line({"lus octets": (3 * 1024 * 1024, 12 * 1024 * 1024)}, 0.25, 0.2) == (
        "3.0 Mo lus sur 12.0 Mo · 25 %")  # no guess in the first second
    assert duration(3725) == "1 h 02 min" and duration(9) == "9 s"


def test_the_line_is_drawn_at_most_twice_a_second_and_cleaned_at_the_end() -> None:
    import io

    now = [0.0]
    out = io.StringIO()
    shown = Progress(True, stream=out, clock=lambda: now[0])
    shown({"fichiers": 1}, None)
    shown({"fichiers": 2}, None)  # same instant: skipped
    now[0] = 0.6
    shown({"fichiers": 3}, None)
    shown.end()
    drawn = out.getvalue()
    assert "1 fichiers" in drawn and "2 fichiers" not in drawn and "3 fichiers" in drawn
    assert drawn.endswith("\r")
    quiet = io.StringIO()
    hidden = Progress(False, stream=quiet)
    hidden({"fichiers": 1}, 0.5)
    hidden.end()
    assert quiet.getvalue() == ""


# --- reperes sync ---------------------------------------------------------------------------


def test_sync_on_a_terminal_shows_people_courses_and_calls(
    world: World, tmp_path: Path, terminal: None
) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    result = CliRunner().invoke(main, ["sync"], env=sync_env(world, tmp_path))
    assert result.exit_code == 0, result.output
    assert "\r" in result.stderr
    assert "personnes" in result.stderr and "cours" in result.stderr
    assert "appels" in result.stderr and "%" in result.stderr
    assert "1 task(s) created" in result.stdout


def test_sync_under_cron_prints_only_its_summary(world: World, tmp_path: Path) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    result = CliRunner().invoke(main, ["sync"], env=sync_env(world, tmp_path))
    assert result.exit_code == 0, result.output
    assert not _drawn(result.stderr)  # the log lines only
    assert len(result.stdout.splitlines()) == 1 and result.stdout.startswith("platform 1: ok")


def test_no_progress_wins_over_a_terminal(world: World, tmp_path: Path, terminal: None) -> None:
    result = CliRunner().invoke(main, ["sync", "--no-progress"], env=sync_env(world, tmp_path))
    assert result.exit_code == 0, result.output
    assert not _drawn(result.stderr)


# --- person export, retention, storage retry ------------------------------------------------


@pytest.fixture
def operator(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {"REPERES_VAR_DIR": str(tmp_path / "var"), "REPERES_SECRET_KEY": "t"}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    from integration.runtime import Runtime
    from integration.settings import Settings

    runtime = Runtime.from_settings(Settings.from_env(env))
    with runtime.sessions() as session:
        cast, _, _ = _story(session, runtime.store)
        session.commit()
    yield runner, env, runtime, cast
    runtime.engine.dispose()


def test_person_export_and_retention_show_files_and_bytes(
    operator, tmp_path: Path, terminal: None  # type: ignore[no-untyped-def]
) -> None:
    runner, env, runtime, cast = operator
    alice = cast.people["alice"].id
    out = tmp_path / "alice.zip"
    exported = runner.invoke(main, ["person", "export", "--id", str(alice), "--out", str(out)],
                             env=env)
    assert exported.exit_code == 0, exported.output
    assert "fichiers" in exported.stderr and "Mo" in exported.stderr and "%" in exported.stderr
    with runtime.sessions() as session:
        parcours = session.get(m.Parcours, cast.parcours["alice"].id)
        parcours.closed_at = datetime.now(UTC) - timedelta(days=400)
        session.commit()
    erased = runner.invoke(main, ["retention", "--months", "12"], env=env)
    assert erased.exit_code == 0, erased.output
    assert "1/1 parcours effacés" in erased.stderr
    assert erased.stdout.startswith("1 parcours erased")


def test_person_export_under_cron_is_one_line(operator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner, env, _, cast = operator
    out = tmp_path / "alice.zip"
    exported = runner.invoke(main, ["person", "export", "--id", str(cast.people["alice"].id),
                                    "--out", str(out)], env=env)
    assert exported.exit_code == 0, exported.output
    assert not _drawn(exported.stderr) and len(exported.stdout.splitlines()) == 1


def test_storage_retry_shows_the_writes_tried(operator, terminal: None) -> None:  # type: ignore[no-untyped-def]
    runner, env, runtime, cast = operator
    from integration.dossier.build import generate_dossier

    generate_dossier(runtime, cast.actor("alice"), cast.parcours["alice"].id)
    with runtime.sessions() as session:
        dossier_id = session.query(m.Dossier.id).first()[0]
        session.add(m.PendingWrite(dossier_id=dossier_id))
        session.commit()
    result = runner.invoke(main, ["storage", "retry"], env=env)
    assert "0/1 écritures" in result.stderr, result.output
    assert result.stdout.startswith("1 due:")


# --- référentiel imports --------------------------------------------------------------------


def test_a_referentiel_import_shows_the_bytes_read(tmp_path: Path, terminal: None) -> None:
    env = {"REPERES_VAR_DIR": str(tmp_path / "var"), "REPERES_SECRET_KEY": "t"}
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    fixture = FIXTURES / "rncp_trois_fiches.xml"
    result = runner.invoke(main, ["referentiels", "import", "--format", "rncp-xml",
                                  str(fixture)], env=env)
    assert result.exit_code == 0, result.output
    assert "Mo lus sur" in result.stderr
    assert result.stdout.startswith("added ")
    quiet = runner.invoke(main, ["referentiels", "import", "--no-progress", "--format",
                                 "rncp-xml", str(fixture)], env=env)
    assert not _drawn(quiet.stderr) and len(quiet.stdout.splitlines()) == 1
