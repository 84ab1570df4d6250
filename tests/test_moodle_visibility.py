"""`reperes platform moodle --check` finds the modules Moodle hides from the web-service
user (a role without mod/assign:view or mod/lti:view): issue 18, seen on a real Moodle 4.3."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from connectors.moodle import MoodleClient
from integration.moodle.connection import check_connection
from integration.moodle.visibility import hidden_modules
from tests.fake_moodle import FakeModule, FakeMoodle

TOKEN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def fake() -> Iterator[FakeMoodle]:
    with FakeMoodle(token=TOKEN) as fm:
        fm.add_course(2, "Accompagnement de parcours RAE", modules=[
            FakeModule(1, "Présentation", "page"),
            FakeModule(4, "Dossier de preuves (livret 2)", "assign", instance=1, section=2,
                       completion=2),
            FakeModule(7, "Outil Repères", "lti", section=2),
        ])
        fm.add_user(3, "teacher1", "Claire", "Dubois")
        fm.enrol(2, 3, "editingteacher")
        fm.add_user(5, "student1", "Amina", "Benali")
        fm.enrol(2, 5)
        yield fm


def _factory(url: str, token: str, _http: requests.Session) -> MoodleClient:
    return MoodleClient(url, token, retries=0)


def test_a_role_that_sees_every_module_hides_nothing(fake: FakeMoodle) -> None:
    with MoodleClient(fake.url, TOKEN, retries=0) as client:
        assert hidden_modules(client, 2).modules == ()
    report = check_connection(1, fake.url, TOKEN, _factory, courseids=[2])
    assert report.ok and report.warnings == []


def test_modules_hidden_by_a_missing_view_capability_are_named_with_the_capability(
    fake: FakeMoodle,
) -> None:
    fake.unviewable_modnames = {"assign", "lti"}
    with MoodleClient(fake.url, TOKEN, retries=0) as client:
        assert hidden_modules(client, 2).modules == ((4, "assign"), (7, "lti"))
    report = check_connection(1, fake.url, TOKEN, _factory, courseids=[2])
    (line,) = report.warnings
    assert "course 2: Moodle hides 2 module(s)" in line
    assert "assign 4, lti 7" in line
    assert "mod/assign:view, mod/lti:view" in line
    assert line in report.lines()
