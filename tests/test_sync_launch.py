"""The sync at launch (one person refreshed in the background) and on a timer."""

from __future__ import annotations

import threading
import time

import pytest

from integration.moodle.refresh import forget_refreshes, refresh_person, refresh_person_async
from integration.moodle.scheduler import start_background_sync
from integration.settings import parse_interval
from tests.test_sync import tasks_of
from tests.test_sync_support import (  # noqa: F401  (fixtures)
    DAY1,
    DAY2,
    REF,
    World,
    address,
    fake_moodle_fixture,
    fast_client,
    runs,
    snapshot,
    world_fixture,
)

# --------------------------------------------------------------------------- launch, timer


def test_a_launch_refreshes_the_person_in_the_background(world: World) -> None:
    forget_refreshes()
    world.fake.set_completion(5, 2, timecompleted=DAY1)
    world.fake.hold = threading.Event()  # Moodle answers only once the test lets it

    thread = refresh_person_async(
        world.runtime, world.platform_id, world.course_id, world.people["amina"],
        client_factory=fast_client,
    )

    assert thread is not None
    # Back while Moodle still holds its answer: the page does not wait for Moodle.
    assert thread.is_alive()
    world.fake.hold.set()
    thread.join(20)
    assert not thread.is_alive()
    assert set(tasks_of(world, "amina")) == {2}
    (run,) = runs(world.sessions)
    assert run.trigger == "launch" and run.summary["tasks_created"] == 1
    # The same person again within a minute: skipped.
    assert refresh_person_async(
        world.runtime, world.platform_id, world.course_id, world.people["amina"]
    ) is None
    forget_refreshes()


def test_a_refresh_with_nothing_new_records_nothing(world: World) -> None:
    world.fake.set_completion(5, 2, timecompleted=DAY1)
    refresh_person(world.sessions, world.platform_id, world.course_id, world.people["amina"],
                   client_factory=fast_client)
    before = snapshot(world.sessions)
    report = refresh_person(world.sessions, world.platform_id, world.course_id,
                            world.people["amina"], client_factory=fast_client)
    assert report is not None and not report.wrote
    assert snapshot(world.sessions) == before
    assert len(runs(world.sessions)) == 1


def test_a_refresh_matches_by_username_when_sub_is_not_the_moodle_id(world: World) -> None:
    world.fake.set_completion(6, 1, timecompleted=DAY1)
    assert refresh_person(world.sessions, world.platform_id, world.course_id,
                          world.people["bruno"], client_factory=fast_client) is None
    world.set_match("username")
    report = refresh_person(world.sessions, world.platform_id, world.course_id,
                            world.people["bruno"], client_factory=fast_client)
    assert report is not None and report.tasks_created == 1


def test_a_refresh_that_fails_is_logged_not_raised(world: World) -> None:
    world.fake.start_outage("503")
    report = refresh_person(world.sessions, world.platform_id, world.course_id,
                            world.people["amina"], client_factory=fast_client)
    assert report is not None and report.state == "failed"
    assert runs(world.sessions)[0].state == "failed"


def test_the_background_sync_runs_on_its_own_and_stops(world: World) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    background = start_background_sync(
        world.runtime, 0.3, first_delay=0.0, client_factory=fast_client
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and background.rounds < 2:
            time.sleep(0.05)
    finally:
        background.stop()
    assert background.rounds >= 2
    assert not background.thread.is_alive()
    assert set(tasks_of(world, "amina")) == {1}
    assert [r.trigger for r in runs(world.sessions)][:2] == ["timer", "timer"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("1h", 3600), ("1h30m", 5400), ("90s", 90), ("900", 900), ("1d", 86400),
     (" 2H ", 7200)],
)
def test_parse_interval_reads_what_an_operator_writes(text: str, seconds: int) -> None:
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "15", "0m", "m15", "15 minutes", "1.5h", "-5m", "1h-30m"])
def test_parse_interval_refuses_the_rest(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)
