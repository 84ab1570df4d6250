"""Migrated databases for tests, made fast: migrate once per session, give each test a copy.

`migrate(url)` leaves the database at `url` exactly as `integration.db.upgrade` would:

- SQLite: a file that does not exist yet becomes a copy of a template file migrated once
  in this session (`shutil.copyfile`, the template closed and out of WAL mode first);
- PostgreSQL: an empty database made by `tests.support.postgres.create_database` is made
  again with `CREATE DATABASE ... TEMPLATE`, from a template migrated once per server;
- anything else (a file already there, a database of unknown origin) is migrated for real.

Templates are keyed by the content of the migration files (integration/migrations/**/*.py):
a migration edited while tests run, or between two runs, gives a new template. Tests of
the migrations themselves (tests/test_migrations.py) call `upgrade` for real.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

import sqlalchemy as sa

from integration.db import MIGRATIONS_DIR, make_engine, upgrade
from tests.support import postgres

_lock = threading.Lock()
_sqlite_templates: dict[str, Path] = {}
_postgres_templates: dict[tuple[str, str], str] = {}  # (admin url, key) -> template name
_template_dir: Path | None = None


def migrations_key() -> str:
    """A digest of every migration file (and env.py): the templates' cache key."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS_DIR.rglob("*.py")):
        digest.update(path.relative_to(MIGRATIONS_DIR).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def migrate(url: str) -> str:
    """Bring the (new, empty) database at `url` to the migrations' head; returns `url`."""
    parsed = sa.engine.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and _copy_sqlite(parsed.database):
        return url
    if backend == "postgresql" and _copy_postgres(url):
        return url
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


# --- SQLite ----------------------------------------------------------------------------


def _template_folder() -> Path:
    global _template_dir
    if _template_dir is None:
        _template_dir = Path(tempfile.mkdtemp(prefix="reperes-templates-"))
        atexit.register(shutil.rmtree, _template_dir, ignore_errors=True)
    return _template_dir


def _sqlite_template() -> Path:
    key = migrations_key()
    with _lock:
        found = _sqlite_templates.get(key)
        if found is not None and found.exists():
            return found
        path = _template_folder() / f"template-{key}.sqlite3"
        for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            leftover.unlink(missing_ok=True)
        engine = make_engine(f"sqlite:///{path}")
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        # Everything into the main file, then out of WAL mode: the copy is then one
        # self-contained file (the service turns WAL back on at its first connection).
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode=DELETE")
        finally:
            conn.close()
        if Path(f"{path}-wal").exists():
            raise RuntimeError(f"SQLite template {path} still has a WAL file after closing")
        _sqlite_templates[key] = path
        return path


def _copy_sqlite(database: str | None) -> bool:
    if not database or database == ":memory:":
        return False
    target = Path(database)
    if any(Path(f"{target}{suffix}").exists() for suffix in ("", "-wal", "-journal")):
        return False  # something is there already: migrate it for real
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.copyfile(_sqlite_template(), partial)
    os.replace(partial, target)
    return True


# --- PostgreSQL ------------------------------------------------------------------------


def _postgres_template(admin_url: str) -> str:
    key = migrations_key()
    with _lock:
        name = _postgres_templates.get((admin_url, key))
        if name is not None:
            return name
        # The pid keeps two sessions sharing one server (REPERES_TEST_POSTGRES_URL, xdist)
        # apart: a template must have no other connection while it is copied.
        name = f"reperes_template_{os.getpid()}_{key}"
        url = postgres.create_database(admin_url, name, fresh=False)
        engine = make_engine(url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        _postgres_templates[(admin_url, key)] = name
        return name


def _copy_postgres(url: str) -> bool:
    admin_url = postgres.fresh_databases.pop(url, None)
    if admin_url is None:
        return False
    name = sa.engine.make_url(url).database
    assert name is not None
    template = _postgres_template(admin_url)
    try:
        postgres.create_database(admin_url, name, template=template, fresh=False)
    except sa.exc.DBAPIError:
        # Still in use (a test connected before migrating): migrate it for real.
        return False
    return True


def drop_postgres_templates(admin_url: str) -> None:
    """Drop this session's templates on `admin_url` (a server given from outside)."""
    with _lock:
        for (admin, key), name in list(_postgres_templates.items()):
            if admin == admin_url:
                postgres.drop_database(admin_url, name)
                del _postgres_templates[(admin, key)]
