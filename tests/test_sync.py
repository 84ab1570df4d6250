"""The Moodle sync end to end: a fake Moodle over real HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
import requests
from sqlalchemy import func, select

from connectors.moodle import MoodleClient
from integration.models import (
    Evidence,
    HistoryEntry,
    Parcours,
    ParcoursReferentiel,
    Tag,
    Task,
    TaskSource,
)
from integration.moodle.plan import (
    Completion,
    MappedModule,
    ParcoursState,
    TaskState,
    completion_caption,
    plan_person,
    wanted_tags,
)
from integration.moodle.run import LOCK_NAME, run_sync
from integration.ops.locks import Lease, LockBusy
from tests.fake_moodle import FakeModule
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


def tasks_of(world: World, name: str) -> dict[int, Task]:
    with world.sessions() as session:
        rows = session.scalars(
            select(Task)
            .join(Parcours, Parcours.id == Task.parcours_id)
            .where(Parcours.person_id == world.people[name], Parcours.course_id == world.course_id)
        ).all()
        for task in rows:  # load what the assertions read
            _ = task.tags, task.evidence
        return {t.moodle_cmid: t for t in rows if t.moodle_cmid is not None}


def tags_of(task: Task) -> set[tuple[str, str, str]]:
    return {(t.referentiel_id, t.referentiel_version, t.competence_code) for t in task.tags}


def parcours_of(world: World, name: str) -> Parcours | None:
    with world.sessions() as session:
        return session.scalar(
            select(Parcours).where(
                Parcours.person_id == world.people[name], Parcours.course_id == world.course_id
            )
        )


# --------------------------------------------------------------------------- the story


def test_completed_modules_become_tasks_with_evidence_and_tags(world: World) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    world.fake.set_completion(5, 2, state=2, timecompleted=DAY2)  # complete-pass
    world.fake.set_completion(5, 4, timecompleted=DAY2)  # Forum: not mapped

    report = world.run()

    assert report.state == "ok", report.errors
    tasks = tasks_of(world, "amina")
    assert set(tasks) == {1, 2}
    first = tasks[1]
    assert first.source is TaskSource.MOODLE
    assert first.title == "Présentation"
    assert first.moodle_completed is True
    assert first.moodle_completed_at == datetime.fromtimestamp(DAY1, UTC)
    assert first.ended_on == date(2026, 2, 25)
    assert first.created_by_id is None
    assert [(e.kind, e.caption) for e in first.evidence] == [
        ("moodle", "Module terminé le 25 février 2026")
    ]
    assert tags_of(first) == {address("C1")}
    assert tags_of(tasks[2]) == {address("C2"), address("C4")}
    parcours = parcours_of(world, "amina")
    assert parcours is not None and parcours.status.value == "en_preparation"
    with world.sessions() as session:
        chosen = session.scalars(
            select(ParcoursReferentiel).where(ParcoursReferentiel.parcours_id == parcours.id)
        ).all()
        assert [(c.referentiel_id, c.referentiel_version) for c in chosen] == [REF]
        actions = session.scalars(
            select(HistoryEntry.action).where(HistoryEntry.parcours_id == parcours.id)
        ).all()
    assert sorted(actions) == ["parcours.created", "task.created", "task.created"]
    assert report.tasks_created == 2 and report.tags_added == 3 and report.parcours_created == 1
    assert report.courses == 1
    # The teacher and the students with nothing completed got nothing; david is unknown.
    assert parcours_of(world, "claire") is None
    assert parcours_of(world, "bruno") is None
    assert report.people_unknown == 3  # bruno and chloe (match by id only) and david
    (run,) = runs(world.sessions)
    assert run.state == "ok" and run.trigger == "cli" and run.finished_at is not None
    assert run.summary["tasks_created"] == 2
    assert run.summary["calls"] == report.calls >= 2


def test_a_second_run_with_nothing_new_writes_nothing(world: World) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    world.fake.set_completion(5, 3, timecompleted=DAY2)
    world.run()
    before = snapshot(world.sessions)

    again = world.run()

    assert snapshot(world.sessions) == before
    assert again.state == "ok"
    assert (again.tasks_created, again.tasks_updated, again.tags_added) == (0, 0, 0)
    assert again.people == 1  # amina was asked again, and nothing was written


def test_a_module_incomplete_again_keeps_its_task_shown_as_incomplete(world: World) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    world.run()
    world.fake.set_completion(5, 1, state=0)

    report = world.run()

    task = tasks_of(world, "amina")[1]
    assert task.moodle_completed is False
    assert task.deleted_at is None
    assert [e.caption for e in task.evidence] == ["Module terminé le 25 février 2026"]
    assert tags_of(task) == {address("C1")}
    assert report.tasks_updated == 1
    before = snapshot(world.sessions)
    world.run()
    assert snapshot(world.sessions) == before


def test_what_the_person_added_by_hand_is_kept(world: World) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    world.run()
    task_id = tasks_of(world, "amina")[1].id
    with world.sessions.begin() as session:
        task = session.get(Task, task_id)
        assert task is not None
        task.title = "J’ai lu la présentation du parcours"
        task.description = "Avec Claire, au local."
        session.add(Evidence(task_id=task_id, kind="photo", caption="Ma fiche"))
        session.add(
            Tag(task_id=task_id, referentiel_id=REF[0], referentiel_version=REF[1],
                competence_code="C6", comment="aussi")
        )
    # Moodle: incomplete, then complete again a week later.
    world.fake.set_completion(5, 1, state=0)
    world.run()
    world.fake.set_completion(5, 1, timecompleted=DAY2)

    world.run()

    task = tasks_of(world, "amina")[1]
    assert task.title == "J’ai lu la présentation du parcours"
    assert task.description == "Avec Claire, au local."
    assert task.moodle_completed is True
    assert task.moodle_completed_at == datetime.fromtimestamp(DAY2, UTC)
    assert task.ended_on == date(2026, 3, 4)  # untouched by hand: follows Moodle
    captions = sorted((e.kind, e.caption) for e in task.evidence)
    assert captions == [("moodle", "Module terminé le 4 mars 2026"), ("photo", "Ma fiche")]
    assert tags_of(task) == {address("C1"), address("C6")}
    assert {t.comment for t in task.tags if t.competence_code == "C6"} == {"aussi"}


def test_a_date_the_person_changed_is_kept(world: World) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    world.run()
    with world.sessions.begin() as session:
        task = session.scalar(select(Task).where(Task.moodle_cmid == 1))
        assert task is not None
        task.ended_on = date(2026, 1, 10)
    world.fake.set_completion(5, 1, timecompleted=DAY2)
    world.run()
    assert tasks_of(world, "amina")[1].ended_on == date(2026, 1, 10)


def test_a_mapping_added_later_adds_the_missing_tags(world: World) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    world.run()
    world.map(1, "C3", name="Présentation")

    report = world.run()

    assert tags_of(tasks_of(world, "amina")[1]) == {address("C1"), address("C3")}
    assert report.tags_added == 1 and report.tasks_updated == 0


def test_a_refused_moodle_proposal_tags_nothing(world: World) -> None:
    world.map(1, "C3", name="Présentation", status="rejected")
    world.fake.set_completion(5, 1, timecompleted=DAY1)

    world.run()

    assert tags_of(tasks_of(world, "amina")[1]) == {address("C1")}


def test_a_tag_or_task_the_person_removed_is_not_put_back(world: World) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    world.fake.set_completion(5, 2, timecompleted=DAY1)
    world.run()
    tasks = tasks_of(world, "amina")
    with world.sessions.begin() as session:
        tag = session.scalar(
            select(Tag).where(Tag.task_id == tasks[2].id, Tag.competence_code == "C4")
        )
        assert tag is not None
        # As the parcours service does: the history remembers the removal.
        session.add(
            HistoryEntry(
                parcours_id=tasks[2].parcours_id, actor_id=world.people["amina"],
                action="tag.removed",
                detail={"task_id": tasks[2].id, "address": f"{REF[0]}@{REF[1]}#C4"},
            )
        )
        session.delete(tag)
        removed = session.get(Task, tasks[1].id)
        assert removed is not None
        removed.deleted_at = datetime.now(UTC)
    before = snapshot(world.sessions)

    world.run()

    assert snapshot(world.sessions) == before


def test_tags_follow_the_version_the_parcours_chose() -> None:
    state = ParcoursState(id=1, person_id=1, chosen={"REF": "v2"})
    mapped = (("REF", "v1", "A"), ("REF", "v1", "B"), ("OTHER", "1", "X"))
    modules = {1: MappedModule(1, "M", mapped)}
    done = {1: Completion(True, datetime.fromtimestamp(DAY1, UTC))}

    plan = plan_person(state, modules, done, lambda ref, version, code: code == "A")

    assert plan.new_tasks[0].tags == (("REF", "v2", "A"), ("OTHER", "1", "X"))
    same_version = [("REF", "v2", "B")]
    assert wanted_tags(same_version, {"REF": "v2"}, lambda *a: False) == same_version


def test_a_module_moodle_no_longer_reports_leaves_its_task_alone() -> None:
    task = TaskState(id=7, cmid=1, deleted=False, completed=True,
                     completed_at=datetime.fromtimestamp(DAY1, UTC), ended_on=None,
                     tags={("R", "1", "A")})
    state = ParcoursState(id=1, person_id=1, tasks={1: task})
    modules = {1: MappedModule(1, "M", (("R", "1", "A"),))}
    assert plan_person(state, modules, {}, lambda *a: True).empty


def test_completion_caption_speaks_french() -> None:
    first = datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert completion_caption(first) == "Module terminé le 1er mars 2026"
    # Late in the evening in Paris is already the next day in the caption.
    assert completion_caption(datetime(2026, 7, 13, 23, 30, tzinfo=UTC)) == (
        "Module terminé le 14 juillet 2026"
    )
    assert completion_caption(None) == "Module terminé"


# --------------------------------------------------------------------------- people


def test_people_are_matched_by_moodle_id_then_username_then_email(world: World) -> None:
    for userid in (5, 6, 7, 8):
        world.fake.set_completion(userid, 3, timecompleted=DAY1)
    world.set_match("username,email")

    report = world.run()

    assert set(tasks_of(world, "amina")) == {3}  # by id (sub "5")
    assert set(tasks_of(world, "bruno")) == {3}  # by username
    assert set(tasks_of(world, "chloe")) == {3}  # by email
    assert report.people_unknown == 1  # david never opened Repères: not created
    with world.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Parcours)) == 3


def test_matching_by_username_only_leaves_email_matches_aside(world: World) -> None:
    world.fake.set_completion(6, 3, timecompleted=DAY1)
    world.fake.set_completion(7, 3, timecompleted=DAY1)
    world.set_match("username")
    world.run()
    assert set(tasks_of(world, "bruno")) == {3}
    assert tasks_of(world, "chloe") == {}


def test_an_accompagnateur_enrolled_as_student_gets_no_parcours(world: World) -> None:
    world.fake.enrol(2, 3, "student")  # claire, accompagnateur in Repères
    world.fake.set_completion(3, 1, timecompleted=DAY1)
    world.run()
    assert parcours_of(world, "claire") is None


# --------------------------------------------------------------------------- failures


class OutageAfter:
    """A client factory that cuts Moodle off after ``after`` completion calls."""

    def __init__(self, fake: object, after: int) -> None:
        self.fake = fake
        self.after = after
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self, url: str, token: str, http: requests.Session) -> MoodleClient:
        outer = self

        class Client(MoodleClient):
            def get_activities_completion_status(self, courseid: int, userid: int):  # type: ignore[no-untyped-def]
                with outer.lock:
                    outer.count += 1
                    if outer.count == outer.after + 1:
                        outer.fake.start_outage("close")  # type: ignore[attr-defined]
                return super().get_activities_completion_status(courseid, userid)

        return Client(url, token, session=http, timeout=(2, 10), retries=0)


def add_students(world: World, count: int) -> list[int]:
    """More students known to Repères (Moodle ids from 100), each with modules 1 and 2 done."""
    from integration.models import Membership, Person, Role

    ids = []
    with world.sessions.begin() as session:
        for n in range(count):
            userid = 100 + n
            world.fake.add_user(userid, f"student{n}", "Élève", str(n))
            world.fake.enrol(2, userid)
            world.fake.set_completion(userid, 1, timecompleted=DAY1)
            world.fake.set_completion(userid, 2, timecompleted=DAY2)
            person = Person(platform_id=world.platform_id, sub=str(userid), name=f"Élève {n}")
            session.add(person)
            session.flush()
            session.add(Membership(course_id=world.course_id, person_id=person.id,
                                   role=Role.CANDIDAT, launched=True))
            ids.append(person.id)
    return ids


def test_an_outage_mid_run_is_caught_up_by_the_next_run(world: World) -> None:
    add_students(world, 16)

    cut = world.run(client_factory=OutageAfter(world.fake, after=5))

    assert cut.state == "partial"
    assert cut.error_count >= 1
    assert 0 < cut.tasks_created < 32
    (run,) = runs(world.sessions)
    assert run.state == "partial" and run.errors and run.summary["errors"] == cut.error_count

    world.fake.end_outage()
    again = world.run()

    assert again.state == "ok", again.errors
    assert cut.tasks_created + again.tasks_created == 32
    with world.sessions() as session:
        per_task = session.execute(
            select(Task.parcours_id, Task.moodle_cmid, func.count())
            .group_by(Task.parcours_id, Task.moodle_cmid)
        ).all()
        assert len(per_task) == 32 and all(n == 1 for *_, n in per_task)
        assert session.scalar(select(func.count()).select_from(Evidence)) == 32
        assert session.scalar(select(func.count()).select_from(Tag)) == 16 * 3
    before = snapshot(world.sessions)
    world.run()
    assert snapshot(world.sessions) == before


def test_one_failing_course_does_not_stop_the_others(world: World) -> None:
    from integration.models import Course

    world.fake.add_course(9, "Autre cours", modules=[FakeModule(91, "Atelier")])
    world.fake.enrol(9, 5)
    world.fake.set_completion(5, 91, timecompleted=DAY1)
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    with world.sessions.begin() as session:
        other = Course(platform_id=world.platform_id, context_id="9", title="Autre",
                       referentiels=[f"{REF[0]}@{REF[1]}"])
        session.add(other)
        session.flush()
        other_id = other.id
    world.map(91, "C6", name="Atelier", course_id=other_id)
    world.fake.inject_error("core_enrol_get_enrolled_users", "nopermissions", "No permission")

    report = world.run()

    assert report.state == "partial"
    assert report.courses == 2 and report.courses_ok == 1
    assert any("nopermissions" in e for e in report.errors)
    assert report.tasks_created == 1


def test_a_refused_token_fails_the_run(world: World) -> None:
    from integration.models import Platform

    with world.sessions.begin() as session:
        platform = session.get(Platform, world.platform_id)
        assert platform is not None
        platform.moodle_token = "wrong-token-0000000000"
    report = world.run()
    assert report.state == "failed"
    assert "token" in report.errors[0]
    assert runs(world.sessions)[0].state == "failed"


def test_old_runs_are_forgotten(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("integration.moodle.report.RUNS_KEPT", 3)
    for _ in range(5):
        world.run()
    assert [r.id for r in runs(world.sessions)] == [3, 4, 5]


def test_a_course_without_mapping_costs_no_call(world: World) -> None:
    from integration.models import ActivityMapping

    with world.sessions.begin() as session:
        for row in session.scalars(select(ActivityMapping)):
            session.delete(row)
    world.map(4, "C6", name="Forum", status="rejected")  # refused links count for nothing
    world.fake.reset_calls()
    report = world.run()
    assert report.state == "ok" and report.courses == 0 and report.courses_skipped == 1
    assert world.fake.call_count == 0


def test_a_parcours_made_meanwhile_by_a_launch_is_used_not_doubled(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import integration.moodle.write as sync

    world.fake.set_completion(5, 1, timecompleted=DAY1)
    real = sync.load_state_of_person
    calls = []

    def stale_then_real(session, course_id, person_id):  # type: ignore[no-untyped-def]
        calls.append(person_id)
        if len(calls) == 1:
            # A launch creates the parcours after the sync looked: the sync's INSERT
            # collides with it, and the sync reads again.
            with world.sessions.begin() as other:
                other.add(Parcours(person_id=person_id, course_id=course_id))
            return None
        return real(session, course_id, person_id)

    monkeypatch.setattr(sync, "load_state_of_person", stale_then_real)
    report = world.run()

    assert report.state == "ok", report.errors
    assert len(calls) == 2
    assert set(tasks_of(world, "amina")) == {1}
    with world.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Parcours)) == 1


# --------------------------------------------------------------------------- one at a time


def test_two_runs_at_once_one_refuses(world: World) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    holder = Lease(world.runtime.engine, LOCK_NAME)
    assert holder.acquire()
    with pytest.raises(LockBusy) as busy:
        run_sync(world.runtime, client_factory=fast_client)
    assert busy.value.info is not None and busy.value.info.holder == holder.holder
    holder.release()
    (report,) = run_sync(world.runtime, client_factory=fast_client)
    assert report.tasks_created == 1


def test_two_concurrent_runs_never_overlap(world: World) -> None:
    world.fake.set_completion(5, 1, timecompleted=DAY1)
    world.fake.delay = 0.2  # the first run is still going when the second starts
    outcomes: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            run_sync(world.runtime, client_factory=fast_client)
            result = "ran"
        except LockBusy:
            result = "busy"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["busy", "ran"]
    assert len(runs(world.sessions)) == 1


def test_a_waiting_run_goes_once_the_first_is_done(world: World) -> None:
    holder = Lease(world.runtime.engine, LOCK_NAME)
    assert holder.acquire()
    threading.Timer(0.5, holder.release).start()
    reports = run_sync(world.runtime, client_factory=fast_client, wait_seconds=10)
    assert len(reports) == 1


