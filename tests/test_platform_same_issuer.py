"""The same Moodle registered both ways (by hand and by dynamic registration) is refused with a
clear message: one Moodle stays one platform, one user one person (issue 18)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from integration.cli import main
from tests.support.database import migrate

MOODLE = "http://127.0.0.1:8081"


def _add(env: dict[str, str], client_id: str, issuer: str = MOODLE) -> object:
    return CliRunner().invoke(main, [
        "platform", "add", "--issuer", issuer, "--client-id", client_id,
        "--deployment-id", "1", "--auth-url", f"{MOODLE}/mod/lti/auth.php",
        "--token-url", f"{MOODLE}/mod/lti/token.php", "--jwks-url", f"{MOODLE}/mod/lti/certs.php",
    ], env=env)


def test_a_second_client_id_for_the_same_issuer_is_refused(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'reperes.sqlite3'}"
    migrate(database_url)
    env = {"REPERES_DATABASE_URL": database_url, "REPERES_VAR_DIR": str(tmp_path / "var"),
           "REPERES_SECRET_KEY": "t"}
    first = _add(env, "Ey5Wwi28NMqbCdQ")  # registered dynamically in real life
    assert first.exit_code == 0, first.output  # type: ignore[attr-defined]
    again = _add(env, "Ey5Wwi28NMqbCdQ")  # the same registration: deployments added
    assert again.exit_code == 0, again.output  # type: ignore[attr-defined]
    second = _add(env, "manual-client", issuer=MOODLE + "/")
    assert second.exit_code == 1  # type: ignore[attr-defined]
    out = second.output  # type: ignore[attr-defined]
    assert f"issuer {MOODLE} is already registered as platform" in out
    assert "two persons" in out and "Nothing added" in out
    listed = CliRunner().invoke(main, ["platform", "list"], env=env)
    assert listed.output.count(f"issuer {MOODLE}") == 1
