"""Issue 12, low: the tool's private keys and the Moodle token were stored in clear in the
database. They are sealed with the operator's key (REPERES_ENCRYPTION_KEY_FILE): a dump
alone signs no launch and reads no Moodle; `reperes keys` re-encrypts; old clear rows are
still read after an upgrade, and sealed on the next write or by `reperes keys encrypt`.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from connectors.moodle import SiteInfo
from integration import create_app
from integration.cli import main
from integration.lti import keys
from integration.lti.context import lti_context
from integration.lti.models import LtiKey
from integration.models import Platform
from integration.moodle.connection import SYNC_FUNCTIONS, connect_moodle, moodle_token
from integration.runtime import Runtime
from integration.secrets_at_rest import SecretBox, SecretsError, new_key, read_key_file
from integration.settings import Settings
from tests.support.database import migrate
from tests.support.lti import launch_as
from tests.support.parcours import make_platform

TOKEN = "0123456789abcdef0123456789abcdef"  # the shape of a Moodle token
PEM_MARK = "PRIVATE KEY"


class _StubMoodle:
    """Answers core_webservice_get_site_info with every function the sync needs."""

    def __init__(self, url: str, token: str, http: Any) -> None:
        self.token = token

    def get_site_info(self) -> SiteInfo:
        return SiteInfo.from_raw({
            "sitename": "Moodle", "siteurl": "https://moodle.example.org", "username": "ws",
            "userid": 2, "functions": [{"name": n} for n in SYNC_FUNCTIONS],
        })


def _key_file(path: Path) -> Path:
    path.write_text(new_key() + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def _settings(tmp: Path, key_file: Path | None, *, database_url: str | None = None,
              demo: bool = False) -> Settings:
    settings = Settings(var_dir=tmp / "var", secret_key="test-secret", testing=True,
                        encryption_key_file=key_file, demo=demo,
                        database_url=database_url or f"sqlite:///{tmp / 'reperes.sqlite3'}")
    return settings


def _secrets_in(app: Any) -> int:
    """Make the tool's and the demo's keys, connect a Moodle; the platform's id."""
    lti = lti_context(app)
    lti.tool_keys.signing_key()
    lti.demo_keys.signing_key()
    runtime: Runtime = app.extensions["reperes"]
    with runtime.sessions.begin() as session:
        platform = make_platform(session)
        report = connect_moodle(session, platform.id, "https://moodle.example.org", TOKEN,
                                factory=_StubMoodle)
        assert report.saved, report.lines()
        return platform.id


def _dump(database_url: str) -> str:
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        return "\n".join(db.iterdump())


def _raw_rows(database_url: str) -> tuple[list[str], list[str]]:
    path = database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        pems = [r[0] for r in db.execute("SELECT private_pem FROM lti_key")]
        tokens = [r[0] for r in db.execute(
            "SELECT moodle_token FROM platform WHERE moodle_token IS NOT NULL")]
    return pems, tokens


def _signs(app: Any) -> None:
    signing = lti_context(app).tool_keys.signing_key()
    token = jwt.encode({"hello": "world"}, signing.private_key, algorithm="RS256",
                       headers={"kid": signing.kid})
    [jwk] = [k for k in app.test_client().get("/lti/jwks").json["keys"]
             if k["kid"] == signing.kid]
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["RS256"]) == {"hello": "world"}


def _token_of(app: Any, platform_id: int) -> str:
    runtime: Runtime = app.extensions["reperes"]
    with runtime.sessions() as session:
        platform = session.get(Platform, platform_id)
        assert platform is not None
        return moodle_token(platform)


def test_the_database_holds_no_private_key_and_no_moodle_token_in_clear(tmp_path: Path) -> None:
    settings = _settings(tmp_path, _key_file(tmp_path / "encryption.key"))
    migrate(settings.database_url)
    app = create_app(settings)
    try:
        platform_id = _secrets_in(app)
        pems, tokens = _raw_rows(settings.database_url)
        assert len(pems) == 2 and len(tokens) == 1
        assert not any(PEM_MARK in pem for pem in pems)
        assert not any(TOKEN in t for t in tokens)
        dump = _dump(settings.database_url)
        assert PEM_MARK not in dump and TOKEN not in dump
        # The service itself still reads them.
        _signs(app)
        assert _token_of(app, platform_id) == TOKEN
    finally:
        app.extensions["reperes"].engine.dispose()


def test_a_database_dump_without_the_key_cannot_sign_or_read_moodle(tmp_path: Path) -> None:
    settings = _settings(tmp_path, _key_file(tmp_path / "encryption.key"))
    migrate(settings.database_url)
    app = create_app(settings)
    try:
        platform_id = _secrets_in(app)
    finally:
        app.extensions["reperes"].engine.dispose()
    # The attacker has the database file (a backup), not the key file.
    stolen = tmp_path / "stolen"
    stolen.mkdir()
    shutil.copy(settings.database_url.removeprefix("sqlite:///"), stolen / "reperes.sqlite3")
    attacker = _settings(stolen, _key_file(stolen / "guessed.key"),
                         database_url=f"sqlite:///{stolen / 'reperes.sqlite3'}")
    other = create_app(attacker)
    try:
        with pytest.raises(SecretsError):
            lti_context(other).tool_keys.signing_key()
        with pytest.raises(SecretsError):
            _token_of(other, platform_id)
        pems, tokens = _raw_rows(attacker.database_url)
        guessed = SecretBox(read_key_file(stolen / "guessed.key"))
        for value in (*pems, *tokens):
            with pytest.raises(SecretsError):
                guessed.open(value)
    finally:
        other.extensions["reperes"].engine.dispose()


def test_reperes_keys_reencrypt_changes_the_key_and_launches_still_validate(
    tmp_path: Path,
) -> None:
    old_key = _key_file(tmp_path / "old.key")
    settings = _settings(tmp_path, old_key, demo=True)
    migrate(settings.database_url)
    app = create_app(settings)
    try:
        platform_id = _secrets_in(app)
        assert launch_as(app.test_client(), "candidat1").actor is not None
    finally:
        app.extensions["reperes"].engine.dispose()
    new = _key_file(tmp_path / "new.key")
    env = {"REPERES_DATABASE_URL": settings.database_url,
           "REPERES_VAR_DIR": str(tmp_path / "var"), "REPERES_SECRET_KEY": "test-secret",
           "REPERES_ENCRYPTION_KEY_FILE": str(new)}
    result = CliRunner().invoke(main, ["keys", "reencrypt", "--old-key-file", str(old_key)],
                                env=env)
    assert result.exit_code == 0, result.output
    assert "2 private key(s) and 1 Moodle token(s)" in result.output
    assert TOKEN not in result.output and PEM_MARK not in result.output
    pems, tokens = _raw_rows(settings.database_url)
    only_old = SecretBox(read_key_file(old_key))
    only_new = SecretBox(read_key_file(new))
    for value in (*pems, *tokens):
        with pytest.raises(SecretsError):
            only_old.open(value)
        only_new.open(value)
    # Again: nothing left to do.
    again = CliRunner().invoke(main, ["keys", "encrypt"], env=env)
    assert again.exit_code == 0 and "0 private key(s) and 0 Moodle token(s)" in again.output
    renewed = create_app(settings.with_changes(encryption_key_file=new))
    try:
        launched = launch_as(renewed.test_client(), "candidat1")
        assert launched.actor is not None, launched.response.get_data(as_text=True)[:300]
        _signs(renewed)
        assert _token_of(renewed, platform_id) == TOKEN
    finally:
        renewed.extensions["reperes"].engine.dispose()


def test_an_existing_clear_row_still_works_after_upgrade(tmp_path: Path) -> None:
    settings = _settings(tmp_path, _key_file(tmp_path / "encryption.key"))
    migrate(settings.database_url)
    # Rows as the previous version wrote them: the key and the token in clear.
    clear_key = keys.new_key_row(keys.TOOL)
    path = settings.database_url.removeprefix("sqlite:///")
    app = create_app(settings)
    runtime: Runtime = app.extensions["reperes"]
    try:
        with runtime.sessions.begin() as session:
            platform = make_platform(session)
            platform_id = platform.id
        with sqlite3.connect(path) as db:
            db.execute("UPDATE platform SET moodle_url = ?, moodle_token = ? WHERE id = ?",
                       ("https://moodle.example.org", TOKEN, platform_id))
        with runtime.sessions.begin() as session:
            session.add(clear_key)
        pems, _ = _raw_rows(settings.database_url)
        assert PEM_MARK in pems[0], "the row is in clear, as before the upgrade"
        # Read as they are…
        assert _token_of(app, platform_id) == TOKEN
        _signs(app)
        assert lti_context(app).tool_keys.signing_key().kid == clear_key.kid
        # …the current key was sealed on first use, the token by `reperes keys encrypt`.
        pems, tokens = _raw_rows(settings.database_url)
        assert PEM_MARK not in pems[0] and tokens == [TOKEN]
        env = {"REPERES_DATABASE_URL": settings.database_url,
               "REPERES_VAR_DIR": str(tmp_path / "var"), "REPERES_SECRET_KEY": "test-secret",
               "REPERES_ENCRYPTION_KEY_FILE": str(settings.encryption_key_file)}
        result = CliRunner().invoke(main, ["keys", "encrypt"], env=env)
        assert result.exit_code == 0, result.output
        assert "0 private key(s) and 1 Moodle token(s)" in result.output
        pems, tokens = _raw_rows(settings.database_url)
        assert PEM_MARK not in pems[0] and TOKEN not in tokens[0]
        assert _token_of(app, platform_id) == TOKEN
        with runtime.sessions() as session:
            assert session.scalar(select(LtiKey.kid)) == clear_key.kid
    finally:
        runtime.engine.dispose()


def test_without_a_key_file_a_key_is_made_in_var_for_local_use(tmp_path: Path) -> None:
    settings = _settings(tmp_path, None)
    migrate(settings.database_url)
    app = create_app(settings)
    try:
        _secrets_in(app)
        made = tmp_path / "var" / "encryption_key"
        assert made.exists() and made.stat().st_mode & 0o077 == 0
        pems, tokens = _raw_rows(settings.database_url)
        assert not any(PEM_MARK in p for p in pems) and TOKEN not in tokens[0]
        _signs(app)
    finally:
        app.extensions["reperes"].engine.dispose()


def test_a_missing_or_wrong_key_file_stops_the_start_with_a_clear_message(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.key"
    bad.write_text("not a key\n", encoding="utf-8")
    for key_file in (tmp_path / "missing.key", bad):
        with pytest.raises(SecretsError, match="REPERES_ENCRYPTION_KEY_FILE"):
            Runtime.from_settings(_settings(tmp_path, key_file))


def test_the_operator_gets_a_valid_key_from_init_secrets_and_the_cli_wrapper(
    tmp_path: Path,
) -> None:
    """deploy/init-secrets.sh writes a usable key; REPERES_ENCRYPTION_KEY (what reperes-cli
    hands over, comma-separated) opens what the key file sealed."""
    import subprocess

    deploy = Path(__file__).resolve().parents[2] / "deploy"
    copy = tmp_path / "deploy"
    shutil.copytree(deploy, copy, ignore=shutil.ignore_patterns("secrets"))
    subprocess.run(["sh", str(copy / "init-secrets.sh")], check=True, capture_output=True)
    key_file = copy / "secrets" / "reperes_encryption_key"
    [made] = read_key_file(key_file)
    sealed = SecretBox([made]).seal(TOKEN)
    env = {"REPERES_ENCRYPTION_KEY": f"{new_key()},{made.decode()},"}
    from_env = SecretBox.from_settings(Settings.from_env(env, var_dir=tmp_path / "var"))
    assert from_env.open(sealed) == TOKEN
