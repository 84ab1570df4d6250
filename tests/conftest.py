"""Fixtures shared by every test: settings, a migrated app, databases, shared data."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from integration import create_app
from integration.settings import Settings
from tests.support import components, database, postgres
from tests.support.shared import SHARED_DIR
from tests.support.templates import SharedBytecodeCache

pytest_plugins = ["tests.support.lti", "tests.support.parcours"]

# Every test makes its own app, and each app its own Jinja environment that would compile
# every page template again: share the compiled code (checked against each template's
# source, so an edited template is compiled afresh). Tests only; the service is unchanged.
Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": SharedBytecodeCache()}

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
        try:
            yield given
        finally:
            database.drop_postgres_templates(given)
        return
    components.require(postgres.available(), "PostgreSQL", "apt-get install postgresql")
    cluster = postgres.Cluster()
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend (a PostgreSQL one is dropped afterwards).

    `tests.support.database.migrate(database_url)` migrates it (from a template copy)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reperes.sqlite3'}"
        return
    admin = request.getfixturevalue("postgres_admin_url")
    name = f"reperes_test_{os.getpid()}_{next(_db_names)}"
    yield postgres.create_database(admin, name)
    postgres.drop_database(admin, name)


# Tests talk to servers on loopback (WsgiDAV, fake Moodle): the operator's allow-list.
OUTBOUND_ALLOW = "127.0.0.0/8,::1/128,localhost"


@pytest.fixture(autouse=True)
def _outbound_allows_loopback() -> Iterator[None]:
    """The process's default outbound policy allows loopback during each test."""
    from connectors.outbound import OutboundPolicy, set_default_policy

    previous = set_default_policy(OutboundPolicy.from_allow(OUTBOUND_ALLOW))
    yield
    set_default_policy(previous)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: SQLite and files in its own temp folder."""
    return Settings(
        var_dir=tmp_path / "var",
        secret_key="test-secret",
        testing=True,
        outbound_allow=OUTBOUND_ALLOW,
    )


@pytest.fixture
def migrated(settings: Settings) -> Settings:
    """`settings` with its database migrated (a copy of the session's migrated template)."""
    database.migrate(settings.database_url)
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
