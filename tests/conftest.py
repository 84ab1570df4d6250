"""Fixtures shared by every test: settings, a migrated app, databases, shared data."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from integration import create_app
from integration.db import make_engine, upgrade
from integration.settings import Settings
from tests.support import components, postgres
from tests.support.shared import SHARED_DIR

pytest_plugins = ["tests.support.lti"]

_db_names = itertools.count(1)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DIR}; set REPERES_SHARED_DIR")
    return SHARED_DIR


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL server for the session (started here when none is given)."""
    given = os.environ.get("REPERES_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    components.require(postgres.available(), "PostgreSQL", "apt-get install postgresql")
    cluster = postgres.Cluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend (a PostgreSQL one is dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reperes.sqlite3'}"
        return
    admin = request.getfixturevalue("postgres_admin_url")
    name = f"reperes_test_{os.getpid()}_{next(_db_names)}"
    yield postgres.create_database(admin, name)
    postgres.drop_database(admin, name)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: SQLite and files in its own temp folder."""
    return Settings(var_dir=tmp_path / "var", secret_key="test-secret", testing=True)


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    return settings


@pytest.fixture
def app(migrated: Settings):  # type: ignore[no-untyped-def]
    application = create_app(migrated)
    yield application
    application.extensions["reperes"].engine.dispose()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@pytest.fixture
def runner(app):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()
