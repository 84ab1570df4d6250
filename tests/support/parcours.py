"""Factories for tests: platforms, people, courses, memberships, parcours, tasks.

Every factory takes a SQLAlchemy session, adds rows and flushes (the caller commits,
or uses `committed(url)`). `Cast.build(session)` makes the usual cast of a story:

    platform A, course X: candidats alice and bob (each with a parcours on TP-APH 2008),
                          accompagnateur carla
    platform A, course Y: candidat eve (with a parcours), accompagnateur dan
    platform B, course Z: candidat gina (with a parcours), coordinateur fred

and `cast.actor("alice")` gives the Actor of that person in their course. In an API
test, `login(client, actor)` puts it in the session and returns the CSRF token to send
back in `X-CSRF-Token` (see `api_app` / `api_client` fixtures, importable from here).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from integration.actor import Actor
from integration.db import make_engine, make_session_factory
from integration.models import (
    Course,
    Membership,
    Modalite,
    Parcours,
    ParcoursReferentiel,
    ParcoursStatus,
    Person,
    Platform,
    Role,
    Task,
)
from tests.support.database import migrate

_numbers = itertools.count(1)

# A référentiel shipped with complete compétences: C1..C6 in blocs CCP1 and CCP2.
APH = ("TP-APH", "2008-08-13")


@contextmanager
def committed(database_url: str) -> Iterator[Session]:
    """A session on `database_url` committed at the end (the database must be migrated)."""
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    session = factory()
    try:
        yield session
        session.commit()
    finally:
        session.close()
        engine.dispose()


def make_platform(session: Session, *, name: str = "Moodle de test") -> Platform:
    n = next(_numbers)
    platform = Platform(
        name=name,
        issuer=f"https://moodle{n}.example.org",
        client_id=f"client-{n}",
        auth_url=f"https://moodle{n}.example.org/mod/lti/auth.php",
        token_url=f"https://moodle{n}.example.org/mod/lti/token.php",
        jwks_url=f"https://moodle{n}.example.org/mod/lti/certs.php",
    )
    session.add(platform)
    session.flush()
    return platform


def make_person(session: Session, platform: Platform, *, name: str = "") -> Person:
    n = next(_numbers)
    person = Person(platform_id=platform.id, sub=f"sub-{n}", name=name or f"Personne {n}")
    session.add(person)
    session.flush()
    return person


def make_course(
    session: Session, platform: Platform, *, title: str = "", referentiels: Sequence[str] = ()
) -> Course:
    n = next(_numbers)
    course = Course(
        platform_id=platform.id,
        context_id=f"ctx-{n}",
        title=title or f"Cours {n}",
        referentiels=list(referentiels),
    )
    session.add(course)
    session.flush()
    return course


def make_membership(session: Session, course: Course, person: Person, role: Role) -> Membership:
    membership = Membership(course_id=course.id, person_id=person.id, role=role, launched=True)
    session.add(membership)
    session.flush()
    return membership


def make_parcours(
    session: Session,
    person: Person,
    course: Course,
    *,
    referentiels: Sequence[tuple[str, str]] = (APH,),
    modalite: Modalite | None = None,
    status: ParcoursStatus = ParcoursStatus.EN_PREPARATION,
) -> Parcours:
    parcours = Parcours(person_id=person.id, course_id=course.id, modalite=modalite,
                        status=status)
    session.add(parcours)
    session.flush()
    for ref_id, version in referentiels:
        session.add(ParcoursReferentiel(parcours_id=parcours.id, referentiel_id=ref_id,
                                        referentiel_version=version))
    session.flush()
    session.refresh(parcours)
    return parcours


def make_task(session: Session, parcours: Parcours, **fields: Any) -> Task:
    fields.setdefault("title", "Je passe la serpillière dans les couloirs")
    task = Task(parcours_id=parcours.id, created_by_id=parcours.person_id, **fields)
    session.add(task)
    session.flush()
    return task


def actor_of(person: Person, course: Course, role: Role) -> Actor:
    return Actor(person_id=person.id, platform_id=course.platform_id, course_id=course.id,
                 role=role, deployment_id="1")


@dataclass
class Cast:
    """The usual people of a story, by first name (see the module docstring)."""

    people: dict[str, Person] = field(default_factory=dict)
    courses: dict[str, Course] = field(default_factory=dict)
    roles: dict[str, tuple[str, Role]] = field(default_factory=dict)
    parcours: dict[str, Parcours] = field(default_factory=dict)
    platforms: dict[str, Platform] = field(default_factory=dict)

    @classmethod
    def build(cls, session: Session, *, referentiels: Sequence[tuple[str, str]] = (APH,)) -> Cast:
        cast = cls()
        a = cast.platforms["A"] = make_platform(session, name="Plateforme A")
        b = cast.platforms["B"] = make_platform(session, name="Plateforme B")
        cast.courses["X"] = make_course(session, a, title="Cours X")
        cast.courses["Y"] = make_course(session, a, title="Cours Y")
        cast.courses["Z"] = make_course(session, b, title="Cours Z")
        for name, course, role, platform in (
            ("alice", "X", Role.CANDIDAT, a),
            ("bob", "X", Role.CANDIDAT, a),
            ("carla", "X", Role.ACCOMPAGNATEUR, a),
            ("eve", "Y", Role.CANDIDAT, a),
            ("dan", "Y", Role.ACCOMPAGNATEUR, a),
            ("gina", "Z", Role.CANDIDAT, b),
            ("fred", "Z", Role.COORDINATEUR, b),
        ):
            person = cast.people[name] = make_person(session, platform, name=name.title())
            make_membership(session, cast.courses[course], person, role)
            cast.roles[name] = (course, role)
            if role is Role.CANDIDAT:
                cast.parcours[name] = make_parcours(
                    session, person, cast.courses[course], referentiels=referentiels
                )
        return cast

    def actor(self, name: str) -> Actor:
        course, role = self.roles[name]
        return actor_of(self.people[name], self.courses[course], role)


# --- API tests -----------------------------------------------------------------------------


def sign_in(client: Any, actor: Actor) -> None:
    """Put `actor` in the client's session, with its server-side record (as a launch does)."""
    from integration.auth import RECORD_KEY, SESSION_KEY, start_session

    token = start_session(client.application.extensions["reperes"].sessions, actor)
    with client.session_transaction() as sess:
        sess.clear()
        sess[SESSION_KEY] = actor.to_session()
        sess[RECORD_KEY] = token


def login(client: Any, actor: Actor) -> str:
    """Put `actor` in the client's session; return the CSRF token for writes."""
    sign_in(client, actor)
    response = client.get("/api/v1/session")
    assert response.status_code == 200, response.get_data(as_text=True)
    token: str = response.get_json()["csrf_token"]
    return token


def jpeg_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30),
               exif: bytes | None = None) -> bytes:
    """A small JPEG, with an EXIF block when given."""
    from PIL import Image

    out = io.BytesIO()
    options: dict[str, Any] = {}
    if exif is not None:
        options["exif"] = exif
    Image.new("RGB", size, color).save(out, "JPEG", **options)
    return out.getvalue()


@pytest.fixture
def api_app(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The service on a fresh database of each backend (files under tmp_path/var/files)."""
    from integration import create_app
    from integration.settings import Settings

    migrate(database_url)
    app = create_app(Settings(var_dir=tmp_path / "var", database_url=database_url,
                              secret_key="t", testing=True))
    yield app
    app.extensions["reperes"].engine.dispose()


@pytest.fixture
def cast(api_app: Any, database_url: str) -> Cast:
    """The usual cast, committed in the database of `api_app`."""
    with committed(database_url) as session:
        built = Cast.build(session)
    return built


@pytest.fixture
def sessions(database_url: str):  # type: ignore[no-untyped-def]
    """A session factory on a fresh, migrated database of each backend (services tests)."""
    engine = make_engine(migrate(database_url))
    yield make_session_factory(engine)
    engine.dispose()
