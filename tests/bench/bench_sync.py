"""The Moodle sync at scale: 1,000 enrolled users × 30 mapped modules, Moodle slow (20 ms).

Run: python tests/bench/bench_sync.py [--users 1000] [--modules 30] [--delay 0.02]
     [--workers 4] [--postgres | --database-url postgresql+psycopg://…]

The fake Moodle runs in a child process (so that its threads do not share our
interpreter) and answers every call after ``--delay`` seconds. Every user has completed
every module: the first run writes the most it ever can (a task, its evidence, two tags
and a history line per module and person). The second run, with nothing new, must write
nothing. Targets: the first run under 60 s on a 2-core machine; the second writes no row.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from integration.db import make_engine, upgrade  # noqa: E402
from integration.models import (  # noqa: E402
    ActivityMapping,
    Course,
    Evidence,
    HistoryEntry,
    Membership,
    Parcours,
    Person,
    Platform,
    Role,
    Tag,
    Task,
)
from integration.moodle.run import run_sync  # noqa: E402
from integration.runtime import Runtime  # noqa: E402
from integration.settings import Settings  # noqa: E402

TOKEN = "bench-token-0123456789abcdef0123"
COURSE = 2
FIRST_USER = 1000
CODES = ("C1", "C2", "C3", "C4", "C5", "C6")
REF = ("TP-APH", "2008-08-13")


def serve_fake(users: int, modules: int, delay: float, pipe: Connection) -> None:
    """In the child: a fake Moodle with the course, the users and their completions."""
    from tests.fake_moodle import FakeModule, FakeMoodle

    fake = FakeMoodle(token=TOKEN, delay=delay)
    fake.start()
    fake.add_course(
        COURSE, "Accompagnement RAE",
        modules=[FakeModule(cmid, f"Module {cmid}") for cmid in range(1, modules + 1)],
    )
    for n in range(users):
        userid = FIRST_USER + n
        fake.add_user(userid, f"user{n}", "Prénom", f"Nom{n}")
        fake.enrol(COURSE, userid)
        for cmid in range(1, modules + 1):
            fake.set_completion(userid, cmid, timecompleted=1_772_013_600 + cmid * 3600)
    pipe.send(fake.url)
    pipe.recv()  # wait until the parent is done
    pipe.send(fake.call_count)
    fake.stop()


def seed(runtime: Runtime, url: str, users: int, modules: int) -> None:
    with runtime.sessions.begin() as session:
        platform = Platform(
            name="bench", issuer="https://moodle.bench", client_id="bench",
            auth_url="https://moodle.bench/auth", jwks_url="https://moodle.bench/jwks",
            moodle_url=url, moodle_token=TOKEN,
        )
        session.add(platform)
        session.flush()
        course = Course(platform_id=platform.id, context_id=str(COURSE), title="Bench",
                        referentiels=[f"{REF[0]}@{REF[1]}"])
        session.add(course)
        session.flush()
        people = [
            Person(platform_id=platform.id, sub=str(FIRST_USER + n), name=f"Personne {n}")
            for n in range(users)
        ]
        session.add_all(people)
        session.flush()
        session.add_all(
            Membership(course_id=course.id, person_id=p.id, role=Role.CANDIDAT, launched=True)
            for p in people
        )
        for cmid in range(1, modules + 1):
            for code in (CODES[cmid % 6], CODES[(cmid + 1) % 6]):
                session.add(
                    ActivityMapping(
                        course_id=course.id, moodle_cmid=cmid, module_name=f"Module {cmid}",
                        referentiel_id=REF[0], referentiel_version=REF[1], competence_code=code,
                    )
                )


def fingerprint(runtime: Runtime) -> dict[str, Any]:
    """Counts, the latest change times and the sum of versions of what the sync writes."""
    with runtime.sessions() as session:
        return {
            "parcours": session.scalar(select(func.count()).select_from(Parcours)),
            "tasks": session.scalar(select(func.count()).select_from(Task)),
            "evidence": session.scalar(select(func.count()).select_from(Evidence)),
            "tags": session.scalar(select(func.count()).select_from(Tag)),
            "history": session.scalar(select(func.count()).select_from(HistoryEntry)),
            "task_versions": session.scalar(select(func.coalesce(func.sum(Task.version), 0))),
            "task_updated": session.scalar(select(func.max(Task.updated_at))),
            "tag_updated": session.scalar(select(func.max(Tag.updated_at))),
            "parcours_versions": session.scalar(
                select(func.coalesce(func.sum(Parcours.version), 0))
            ),
        }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--modules", type=int, default=30)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--postgres", action="store_true",
                        help="on a throw-away PostgreSQL cluster (Debian's server binaries)")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds allowed, first run")
    args = parser.parse_args()

    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    child = context.Process(
        target=serve_fake, args=(args.users, args.modules, args.delay, theirs), daemon=True
    )
    child.start()
    url = ours.recv()

    cluster = None
    if args.postgres and not args.database_url:
        from tests.support import postgres

        cluster = postgres.Cluster()
        args.database_url = postgres.create_database(cluster.start(), "reperes_bench")
    try:
        return _bench(args, url, ours, child)
    finally:
        if cluster is not None:
            cluster.stop()


def _bench(args: argparse.Namespace, url: str, ours: Connection, child: Any) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        engine = make_engine(database_url)
        upgrade(engine)
        engine.dispose()
        runtime = Runtime.from_settings(Settings(var_dir=Path(tmp), database_url=database_url))
        seed(runtime, url, args.users, args.modules)
        rss_before = peak_rss_mb()

        started = time.perf_counter()
        (first,) = run_sync(runtime, workers=args.workers)
        first_seconds = time.perf_counter() - started
        after_first = fingerprint(runtime)
        rss_after_first = peak_rss_mb()

        started = time.perf_counter()
        (second,) = run_sync(runtime, workers=args.workers)
        second_seconds = time.perf_counter() - started
        after_second = fingerprint(runtime)
        runtime.engine.dispose()

    ours.send("done")
    served = ours.recv()
    child.join(10)

    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    print(f"bench_sync: {args.users} users × {args.modules} mapped modules, Moodle answers "
          f"in {args.delay * 1000:.0f} ms, {args.workers} requests in flight, {backend}")
    for label, report, seconds in (("first run ", first, first_seconds),
                                   ("second run", second, second_seconds)):
        print(
            f"  {label}: {seconds:6.1f} s, state {report.state}, {report.calls} calls "
            f"({report.calls / seconds:.0f} calls/s), {report.tasks_created} tasks created, "
            f"{report.tasks_updated} updated, {report.tags_added} tags added, "
            f"{report.error_count} errors"
        )
    print(f"  rows after the first run: {after_first['tasks']} tasks, "
          f"{after_first['evidence']} evidence, {after_first['tags']} tags, "
          f"{after_first['history']} history lines, {after_first['parcours']} parcours")
    print(f"  peak memory (RSS): {rss_before:.0f} MB after seeding, "
          f"{rss_after_first:.0f} MB after the first run, {peak_rss_mb():.0f} MB at the end")
    print(f"  calls the fake Moodle served: {served}")

    ok = True
    expected = args.users * args.modules
    if first.state != "ok" or after_first["tasks"] != expected:
        print(f"FAIL: the first run made {after_first['tasks']} tasks, expected {expected}")
        ok = False
    if first_seconds > args.limit:
        print(f"FAIL: the first run took {first_seconds:.1f} s (limit {args.limit:.0f} s)")
        ok = False
    if after_second != after_first or second.wrote:
        print("FAIL: the second run wrote something")
        ok = False
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
