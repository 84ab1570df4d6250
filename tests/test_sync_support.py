"""The world the sync tests share: a fake Moodle over real HTTP and a migrated database.

    fake Moodle course 2 « Accompagnement de parcours RAE »:
      modules 1 Présentation (manual), 2 Livret 1 (assign, automatic),
              3 Quiz entretien (manual), 4 Forum (manual, never mapped)
      amina  (Moodle 5, student)  — in Repères as sub "5"
      bruno  (Moodle 6, student)  — in Repères as sub "lti-bruno", username "bruno"
      chloe  (Moodle 7, student)  — in Repères as sub "lti-chloe", email chloe@example.org
      claire (Moodle 3, teacher)  — in Repères as sub "3", accompagnateur of the course
      david  (Moodle 8, student)  — never opened Repères
    Repères course « Accompagnement RAE » (context id "2") offers TP-APH@2008-08-13;
    mapping: 1 -> C1; 2 -> C2, C4; 3 -> C5.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.moodle import MoodleClient
from integration.db import Base
from integration.models import (
    ActivityMapping,
    Course,
    Membership,
    Person,
    Platform,
    Role,
    SyncRun,
)
from integration.moodle.report import RunReport
from integration.moodle.run import sync_completions
from integration.runtime import Runtime
from integration.settings import Settings
from tests.fake_moodle import FakeModule, FakeMoodle
from tests.support.database import migrate

REF = ("TP-APH", "2008-08-13")
TOKEN = "t0k3n-for-sync-tests-0123456789ab"
DAY1 = 1_772_013_600  # 2026-02-25 10:00 UTC
DAY2 = 1_772_618_400  # 2026-03-04 10:00 UTC


def fast_client(url: str, token: str, http: requests.Session) -> MoodleClient:
    """No retry, short timeouts: tests see failures at once."""
    return MoodleClient(url, token, session=http, timeout=(2, 10), retries=0)


def address(code: str) -> tuple[str, str, str]:
    return (*REF, code)


@dataclass
class World:
    database_url: str
    runtime: Runtime
    fake: FakeMoodle
    platform_id: int = 0
    course_id: int = 0
    people: dict[str, int] = field(default_factory=dict)

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.runtime.sessions

    def run(self, **kwargs: Any) -> RunReport:
        kwargs.setdefault("client_factory", fast_client)
        reports = sync_completions(self.sessions, **kwargs)
        assert len(reports) == 1, reports
        return reports[0]

    def map(
        self,
        cmid: int,
        *codes: str,
        name: str = "",
        course_id: int | None = None,
        status: str = "confirmed",
    ) -> None:
        with self.sessions.begin() as session:
            for code in codes:
                session.add(
                    ActivityMapping(
                        course_id=course_id or self.course_id,
                        moodle_cmid=cmid,
                        module_name=name or f"Module {cmid}",
                        referentiel_id=REF[0],
                        referentiel_version=REF[1],
                        competence_code=code,
                        status=status,
                    )
                )

    def set_match(self, mode: str) -> None:
        with self.sessions.begin() as session:
            platform = session.get(Platform, self.platform_id)
            assert platform is not None
            platform.moodle_match = mode


def build_world(database_url: str, fake: FakeMoodle, var_dir: Path) -> World:
    """The world of the module docstring, committed."""

    migrate(database_url)
    runtime = Runtime.from_settings(
        Settings(var_dir=var_dir, database_url=database_url, secret_key="t", testing=True,
                 outbound_allow="127.0.0.0/8")
    )
    world = World(database_url, runtime, fake)

    fake.add_course(
        2,
        "Accompagnement de parcours RAE",
        modules=[
            FakeModule(1, "Présentation"),
            FakeModule(2, "Livret 1", modname="assign", completion=2),
            FakeModule(3, "Quiz entretien", modname="quiz"),
            FakeModule(4, "Forum", modname="forum"),
        ],
    )
    for userid, username, first, last, email in (
        (3, "claire", "Claire", "Dubois", "claire@example.org"),
        (5, "amina", "Amina", "Benali", "amina@example.org"),
        (6, "bruno", "Bruno", "Martin", "bruno.m@example.org"),
        (7, "chloe", "Chloé", "Petit", "chloe@example.org"),
        (8, "david", "David", "Roux", "david@example.org"),
    ):
        fake.add_user(userid, username, first, last, email)
        fake.enrol(2, userid, "editingteacher" if userid == 3 else "student")

    with world.sessions.begin() as session:
        platform = Platform(
            name="Moodle FDE",
            issuer="https://moodle.example.org",
            client_id="reperes",
            auth_url="https://moodle.example.org/mod/lti/auth.php",
            jwks_url="https://moodle.example.org/mod/lti/certs.php",
            moodle_url=fake.url,
            moodle_token=fake.token,
        )
        session.add(platform)
        session.flush()
        course = Course(
            platform_id=platform.id,
            context_id="2",
            title="Accompagnement RAE",
            referentiels=[f"{REF[0]}@{REF[1]}"],
        )
        session.add(course)
        session.flush()
        world.platform_id, world.course_id = platform.id, course.id
        for name, sub, username, email, role in (
            ("amina", "5", "", "", Role.CANDIDAT),
            ("bruno", "lti-bruno", "bruno", "", Role.CANDIDAT),
            ("chloe", "lti-chloe", "", "chloe@example.org", Role.CANDIDAT),
            ("claire", "3", "claire", "claire@example.org", Role.ACCOMPAGNATEUR),
        ):
            person = Person(
                platform_id=platform.id, sub=sub, name=name.title(), username=username,
                email=email,
            )
            session.add(person)
            session.flush()
            world.people[name] = person.id
            session.add(
                Membership(course_id=course.id, person_id=person.id, role=role, launched=True)
            )
    world.map(1, "C1", name="Présentation")
    world.map(2, "C2", "C4", name="Livret 1")
    world.map(3, "C5", name="Quiz entretien")
    return world


@pytest.fixture(name="fake_moodle")
def fake_moodle_fixture() -> Iterator[FakeMoodle]:
    with FakeMoodle(token=TOKEN) as fake:
        yield fake


@pytest.fixture(name="world")
def world_fixture(database_url: str, fake_moodle: FakeMoodle, tmp_path: Path) -> Iterator[World]:
    built = build_world(database_url, fake_moodle, tmp_path / "var")
    yield built
    built.runtime.engine.dispose()


# The tables a sync may write (beside sync_run and lock, which record runs).
DOMAIN_TABLES = (
    "person",
    "membership",
    "parcours",
    "parcours_referentiel",
    "task",
    "evidence",
    "tag",
    "history_entry",
    "activity_mapping",
)


def snapshot(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the domain tables, every column (versions and updated_at included)."""
    tables = Base.metadata.tables
    out: dict[str, list[tuple[Any, ...]]] = {}
    with sessions() as session:
        for name in DOMAIN_TABLES:
            table = tables[name]
            key = list(inspect(table).primary_key)
            out[name] = [tuple(row) for row in session.execute(select(table).order_by(*key))]
    return out


def runs(sessions: sessionmaker[Session]) -> list[SyncRun]:
    with sessions() as session:
        return list(session.scalars(select(SyncRun).order_by(SyncRun.id)))


def test_the_world_is_ready_to_sync(world: World) -> None:
    with world.sessions() as session:
        assert session.get(Course, world.course_id) is not None
        assert len(session.scalars(select(ActivityMapping)).all()) == 4
    assert world.fake.url.startswith("http://127.0.0.1:")
