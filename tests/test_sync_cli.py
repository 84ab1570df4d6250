"""`reperes sync` and `reperes platform moodle`: exit codes, the lock, the token kept secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from integration.cli import CliContext, main
from integration.cli.sync import moodle_command
from integration.models import Platform
from integration.moodle.connection import MoodleLinkError, connect_moodle
from integration.moodle.report import EXIT_BUSY, EXIT_PARTIAL
from integration.moodle.run import LOCK_NAME
from integration.ops.locks import Lease
from integration.secrets_at_rest import SecretBox
from integration.settings import Settings
from tests.test_sync_support import (  # noqa: F401  (fixtures)
    DAY1,
    TOKEN,
    World,
    fake_moodle_fixture,
    fast_client,
    runs,
    world_fixture,
)


def env(world: World, tmp_path: Path) -> dict[str, str]:
    return {
        "REPERES_DATABASE_URL": world.database_url,
        "REPERES_VAR_DIR": str(tmp_path / "cli"),
        "REPERES_SECRET_KEY": "t",
        "REPERES_OUTBOUND_ALLOW": "127.0.0.0/8",  # the fake Moodle listens on loopback
    }


def sync(world: World, tmp_path: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["sync", *args], env=env(world, tmp_path))


def test_reperes_sync_runs_once_and_says_what_it_did(world: World, tmp_path: Path) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    result = sync(world, tmp_path)
    assert result.exit_code == 0, result.output
    assert "1 task(s) created" in result.output
    assert [r.trigger for r in runs(world.sessions)] == ["cli"]


def test_reperes_sync_exits_75_when_another_run_holds_the_lock(
    world: World, tmp_path: Path
) -> None:
    holder = Lease(world.runtime.engine, LOCK_NAME, holder="cron@other-host")
    assert holder.acquire()
    busy = sync(world, tmp_path)
    assert busy.exit_code == EXIT_BUSY
    assert "another sync is running" in busy.output and "cron@other-host" in busy.output
    assert sync(world, tmp_path, "--busy-ok").exit_code == 0
    assert runs(world.sessions) == []
    holder.release()
    assert sync(world, tmp_path).exit_code == 0


def test_reperes_sync_exits_3_when_part_failed(world: World, tmp_path: Path) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    world.fake.inject_error("core_completion_get_activities_completion_status",
                            "nopermissions", "No permission", times=None)
    result = sync(world, tmp_path)
    assert result.exit_code == EXIT_PARTIAL, result.output
    assert "nopermissions" in result.output


def test_reperes_sync_exits_1_when_nothing_could_be_synced(world: World, tmp_path: Path) -> None:
    world.fake.start_outage("503")
    result = sync(world, tmp_path, "--platform", "Moodle FDE")
    assert result.exit_code == 1, result.output


def test_reperes_sync_names_an_unknown_platform(world: World, tmp_path: Path) -> None:
    result = sync(world, tmp_path, "--platform", "nope")
    assert result.exit_code != 0 and "no platform 'nope'" in result.output


# --------------------------------------------------------------------------- the connection


def platform_cli(world: World, tmp_path: Path, *args: str, stdin: str | None = None) -> Result:
    settings = Settings(var_dir=tmp_path / "cli", database_url=world.database_url,
                        secret_key="t", outbound_allow="127.0.0.0/8")
    return CliRunner().invoke(moodle_command, list(args), obj=CliContext(settings), input=stdin)


def token_file(tmp_path: Path, token: str, mode: int = 0o600) -> Path:
    path = tmp_path / "moodle.token"
    path.write_text(token + "\n", encoding="utf-8")
    path.chmod(mode)
    return path


def stored(world: World) -> Platform:
    with world.sessions() as session:
        platform = session.get(Platform, world.platform_id)
        assert platform is not None
        return platform


def clear_connection(world: World) -> None:
    with world.sessions.begin() as session:
        platform = session.get(Platform, world.platform_id)
        assert platform is not None
        platform.moodle_url = platform.moodle_token = None


def test_connecting_a_platform_checks_the_token_and_saves_it(
    world: World, tmp_path: Path
) -> None:
    clear_connection(world)
    result = platform_cli(
        world, tmp_path, "Moodle FDE", "--url", world.fake.url + "/",
        "--token-file", str(token_file(tmp_path, TOKEN)), "--match", "username,email",
    )
    assert result.exit_code == 0, result.output
    assert "Fake Moodle" in result.output and "connection saved" in result.output
    assert TOKEN not in result.output
    platform = stored(world)
    assert platform.moodle_url == world.fake.url
    # Sealed at rest with the CLI's encryption key (made in its var/ here).
    assert platform.moodle_token and TOKEN not in platform.moodle_token
    box = SecretBox.from_settings(Settings(var_dir=tmp_path / "cli"))
    assert box.open(platform.moodle_token) == TOKEN
    assert platform.moodle_match == "username,email"
    check = platform_cli(world, tmp_path, str(world.platform_id), "--check")
    assert check.exit_code == 0 and "connection works" in check.output


def test_a_token_moodle_refuses_is_not_saved(world: World, tmp_path: Path) -> None:
    clear_connection(world)
    result = platform_cli(
        world, tmp_path, "Moodle FDE", "--url", world.fake.url,
        "--token-file", str(token_file(tmp_path, "bad-token-123456789")),
    )
    assert result.exit_code == 1
    assert "invalidtoken" in result.output and "nothing saved" in result.output
    assert "bad-token-123456789" not in result.output
    assert stored(world).moodle_token is None


def test_missing_functions_are_named_and_nothing_is_saved(
    world: World, tmp_path: Path
) -> None:
    clear_connection(world)
    world.fake.remove_function("core_completion_get_activities_completion_status")
    world.fake.remove_function("core_competency_list_course_module_competencies")
    result = platform_cli(
        world, tmp_path, "Moodle FDE", "--url", world.fake.url, "--token-file", "-",
        stdin=TOKEN + "\n",
    )
    assert result.exit_code == 1
    assert "missing functions the sync needs: core_completion_get_activities_completion_status" in (
        result.output
    )
    assert "core_competency_list_course_module_competencies" in result.output
    assert stored(world).moodle_token is None


def test_only_optional_functions_missing_still_connects(world: World, tmp_path: Path) -> None:
    clear_connection(world)
    world.fake.remove_function("core_competency_list_course_module_competencies")
    with world.sessions.begin() as session:
        report = connect_moodle(session, "Moodle FDE", world.fake.url, TOKEN,
                                factory=fast_client)
    assert report.saved and report.missing_optional == [
        "core_competency_list_course_module_competencies"
    ]


def test_a_token_file_others_can_read_gets_a_warning(world: World, tmp_path: Path) -> None:
    result = platform_cli(
        world, tmp_path, "Moodle FDE", "--url", world.fake.url,
        "--token-file", str(token_file(tmp_path, TOKEN, 0o644)),
    )
    assert result.exit_code == 0
    assert "chmod 600" in result.output


def test_an_unknown_platform_or_empty_token_is_refused(world: World, tmp_path: Path) -> None:
    with world.sessions.begin() as session:
        with pytest.raises(MoodleLinkError):
            connect_moodle(session, "nope", world.fake.url, TOKEN)
        with pytest.raises(MoodleLinkError):
            connect_moodle(session, "Moodle FDE", world.fake.url, "  ")
    result = platform_cli(world, tmp_path, "Moodle FDE", "--url", world.fake.url)
    assert result.exit_code == 2  # usage: --token-file is needed
