"""The launch's hot path stays small: one transaction, a handful of statements, nothing
written for a person who launches again unchanged, registrations read from the process's
cache (and fresh again within its TTL when another process changes them). SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select, update

from integration.db import make_engine
from integration.lti import claims as c
from integration.lti import registry
from integration.lti.context import lti_context
from integration.models import Membership, Person, Platform
from integration.settings import Settings
from tests.conftest import OUTBOUND_ALLOW
from tests.support.lti import MOODLE_TOOL_BASE, FakePlatform, moodle_id_token, start_login

LAUNCH_URL = MOODLE_TOOL_BASE + "/lti/launch"
# A person who launched before, launching again from the same browser: the login read and
# consumed (1: DELETE … RETURNING), the person, course and membership read (1), the
# browser's session record renewed (1), and SQLite's BEGIN IMMEDIATE (PostgreSQL begins
# without a statement).
MAX_STATEMENTS_AGAIN = 4
# The first launch of a person (here in a new course, from a browser signed in as someone
# else): the person, course and membership inserted too.
MAX_STATEMENTS_FIRST = 7


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        var_dir=tmp_path / "var",
        secret_key="test-secret",
        testing=True,
        outbound_allow=OUTBOUND_ALLOW,
        base_url=MOODLE_TOOL_BASE,
        database_url=database_url,
    )


@pytest.fixture
def student(shared_dir: Path) -> dict[str, Any]:
    return moodle_id_token(shared_dir, "student_resource_link")


class Statements:
    def __init__(self) -> None:
        self.sql: list[str] = []
        self.commits = 0

    def writes_to(self, *tables: str) -> list[str]:
        verbs = ("INSERT INTO", "UPDATE", "DELETE FROM")
        return [
            s
            for s in self.sql
            if any(s.startswith(f"{verb} {table} ") for verb in verbs for table in tables)
        ]

    def __str__(self) -> str:
        return "\n".join(s.split("\n")[0][:160] for s in self.sql)


@contextmanager
def counted(app: Flask) -> Iterator[Statements]:
    engine = app.extensions["reperes"].engine
    seen = Statements()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.sql.append(statement.strip())

    def on_commit(_conn: Any) -> None:
        seen.commits += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)


def launch(
    client: FlaskClient, platform: FakePlatform, base: dict[str, Any], app: Flask, **claims: Any
) -> Statements:
    """Log in (not counted), then POST /lti/launch (counted); the launch must succeed."""
    login = start_login(client, platform, LAUNCH_URL)
    token = platform.sign(platform.claims(base, nonce=login.nonce, target=LAUNCH_URL, **claims))
    with counted(app) as seen:
        response = client.post("/lti/launch", data={"id_token": token, "state": login.state})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return seen


def test_a_second_launch_of_the_same_person_runs_a_handful_of_statements(
    app: Flask, client: FlaskClient, fake_platform: FakePlatform, student: dict[str, Any]
) -> None:
    # Someone else first, elsewhere: the platform's key and registration are now cached.
    cold = launch(client, fake_platform, student, app, sub="warm-up", **{c.CONTEXT: {"id": "0"}})
    assert cold.commits == 1, "a key fetched first ends a transaction that wrote nothing"

    first = launch(client, fake_platform, student, app)
    assert len(first.sql) <= MAX_STATEMENTS_FIRST, f"{len(first.sql)} statements:\n{first}"
    assert first.commits == 1, "the whole launch is one transaction"

    again = launch(client, fake_platform, student, app)
    assert len(again.sql) <= MAX_STATEMENTS_AGAIN, f"{len(again.sql)} statements:\n{again}"
    assert again.commits == 1, "the whole launch is one transaction"
    assert again.writes_to("person", "course", "membership") == [], (
        "an unchanged person launching again writes nothing about them"
    )
    assert again.writes_to("lti_launch_state"), "the login is consumed"
    assert not any("FROM platform" in s or "FROM deployment" in s for s in again.sql), (
        "registrations come from the process's cache"
    )


def test_a_launch_with_a_new_name_updates_only_the_person(
    app: Flask, client: FlaskClient, fake_platform: FakePlatform, student: dict[str, Any]
) -> None:
    launch(client, fake_platform, student, app)
    seen = launch(client, fake_platform, student, app, name="Nom Nouveau")
    assert [s.split(" SET")[0] for s in seen.writes_to("person", "course", "membership")] == [
        "UPDATE person"
    ]
    with lti_context(app).sessions() as db:
        assert db.scalar(select(Person.name)) == "Nom Nouveau"
        assert db.scalar(select(Membership.launched)) is True


def _post(client: FlaskClient, platform: FakePlatform, base: dict[str, Any], login: Any) -> int:
    token = platform.sign(platform.claims(base, nonce=login.nonce, target=LAUNCH_URL))
    response = client.post("/lti/launch", data={"id_token": token, "state": login.state})
    return response.status_code


def test_a_platform_switched_off_by_another_process_stops_within_the_ttl(
    app: Flask,
    client: FlaskClient,
    settings: Settings,
    fake_platform: FakePlatform,
    student: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    launch(client, fake_platform, student, app)  # the registration is now cached
    early, late = (start_login(client, fake_platform, LAUNCH_URL) for _ in range(2))
    # Another process (the CLI, another instance): no session of this process sees it.
    other = make_engine(settings.database_url)
    try:
        with other.begin() as conn:
            conn.execute(update(Platform).values(active=False))
    finally:
        other.dispose()
    assert _post(client, fake_platform, student, early) == 303  # within the TTL: the bound

    later = registry.time.monotonic() + registry.TTL
    monkeypatch.setattr(registry.time, "monotonic", lambda: later)
    assert _post(client, fake_platform, student, late) == 403  # read again: switched off
    with pytest.raises(AssertionError):  # and a new login is refused at once
        start_login(client, fake_platform, LAUNCH_URL)
