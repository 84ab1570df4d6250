"""The backup and restore commands of the guides (section 8), run for real.

- PostgreSQL: `pg_dump -Fc`, a loss, then `pg_restore --clean --if-exists --no-owner`
  over the same database: the data is back and the service is ready on it;
- SQLite: `sqlite3 … ".backup …"` while the service holds the database open: the copy
  is a database the service starts on, with the same data.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from integration import create_app
from integration.settings import Settings
from tests.support import components, postgres
from tests.support.database import migrate
from tests.support.parcours import Cast, committed, make_task


def _story(url: str) -> int:
    migrate(url)
    with committed(url) as session:
        cast = Cast.build(session)
        make_task(session, cast.parcours["alice"], title="Je range la réserve")
        return cast.people["alice"].id


def _count_tasks(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = int(conn.execute(sa.text("SELECT count(*) FROM task")).scalar_one())
    engine.dispose()
    return count


def _ready(url: str, var_dir: Path) -> None:
    app = create_app(Settings(var_dir=var_dir, database_url=url, secret_key="t", testing=True))
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 200, answer.get_json()
    app.extensions["reperes"].engine.dispose()


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _tool(name: str) -> str:
    bindir = postgres._bindir()
    found = str(bindir / name) if bindir and (bindir / name).exists() else shutil.which(name)
    components.require(found is not None, name, "apt-get install postgresql-client")
    assert found is not None
    return found


@pytest.mark.postgres
def test_pg_dump_then_pg_restore_over_the_database_brings_everything_back(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    url = postgres.create_database(postgres_admin_url, f"reperes_backup_{id(tmp_path)}")
    _story(url)
    before = _count_tasks(url)
    dump = tmp_path / "reperes.dump"
    with dump.open("wb") as out:
        subprocess.run([_tool("pg_dump"), "-Fc", _libpq(url)], stdout=out, check=True,
                       timeout=120)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the accident
        conn.execute(sa.text("DELETE FROM task"))
    engine.dispose()
    assert _count_tasks(url) == 0
    with dump.open("rb") as source:
        restored = subprocess.run(
            [_tool("pg_restore"), "-d", _libpq(url), "--clean", "--if-exists", "--no-owner"],
            stdin=source, capture_output=True, text=True, timeout=120, check=False)
    assert restored.returncode == 0, restored.stderr
    assert _count_tasks(url) == before > 0
    _ready(url, tmp_path / "var")


def test_sqlite_backup_while_the_service_runs_is_a_database_it_starts_on(
    tmp_path: Path,
) -> None:
    sqlite3 = shutil.which("sqlite3")
    components.require(sqlite3 is not None, "sqlite3", "apt-get install sqlite3")
    assert sqlite3 is not None
    source = tmp_path / "var" / "reperes.sqlite3"
    url = f"sqlite:///{source}"
    _story(url)
    running = create_app(Settings(var_dir=tmp_path / "var", database_url=url,
                                  secret_key="t", testing=True))
    with running.extensions["reperes"].engine.connect() as held:  # the service is up
        held.execute(sa.text("SELECT count(*) FROM person"))
        copy = tmp_path / "backup" / "reperes-copy.sqlite3"
        copy.parent.mkdir()
        subprocess.run([sqlite3, str(source), f".backup '{copy}'"], check=True, timeout=60)
    running.extensions["reperes"].engine.dispose()
    assert _count_tasks(f"sqlite:///{copy}") == _count_tasks(url) > 0
    _ready(f"sqlite:///{copy}", tmp_path / "restored")
