"""The accompagnateur's day at scale (issue 17): the course page and « À regarder » with 60
candidats and 6,000 activities, and 20 activities reviewed in a row through « Enregistrer et
suivante ».

Run: python tests/bench/bench_day.py [--rounds N]

Prints the median and p95 server time of each page (Flask test client, SQLite), the SQL
statements per page for 10 and for 60 candidats (they must be the same: no query per
candidat), and the median server time of one review step (the POST that saves the avis
and finds the next activity, then the GET of that next activity). Targets: pages p95 under
100 ms; a step's median under 50 ms.
"""

from __future__ import annotations

import argparse
import html
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from integration import create_app  # noqa: E402
from integration.db import make_engine, upgrade  # noqa: E402
from integration.models import Role  # noqa: E402
from integration.settings import Settings  # noqa: E402
from tests.bench.bench_pages import REF, _client, _codes, _tasks, measure  # noqa: E402
from tests.support.parcours import (  # noqa: E402
    actor_of,
    committed,
    make_course,
    make_membership,
    make_parcours,
    make_person,
    make_platform,
)

PAGE_MS = 100.0
STEP_MS = 50.0
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_FIELD = re.compile(r'name="(avis-[^"]+)"')
_SUITE = re.compile(r'name="suite" value="([0-9,]+)"')


def seed(url: str, candidats: int, per_candidat: int) -> Any:
    codes = _codes()
    with committed(url) as session:
        platform = make_platform(session)
        course = make_course(session, platform, title="Parcours RAE")
        nadia = make_person(session, platform, name="Nadia L.")
        make_membership(session, course, nadia, Role.ACCOMPAGNATEUR)
        for n in range(candidats):
            person = make_person(session, platform, name=f"Candidat {n + 1:02d}")
            make_membership(session, course, person, Role.CANDIDAT)
            parcours = make_parcours(session, person, course, referentiels=[REF])
            _tasks(session, parcours.id, person.id, per_candidat, codes)
        return actor_of(nadia, course, Role.ACCOMPAGNATEUR)


def _app(folder: Path, name: str, candidats: int, per_candidat: int) -> tuple[Any, Any, list[int]]:
    url = f"sqlite:///{folder / name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    actor = seed(url, candidats, per_candidat)
    app = create_app(Settings(var_dir=folder / name.replace(".", "-"), database_url=url,
                              secret_key="bench"))
    queries = [0]
    event.listen(app.extensions["reperes"].engine, "before_cursor_execute",
                 lambda *a, **k: queries.__setitem__(0, queries[0] + 1))
    return app, _client(app, actor), queries


def steps(client: Any, count: int) -> list[float]:
    """Review `count` activities in a row: open the first, then save with « suivante »."""
    listing = client.get("/cours/a-regarder").get_data(as_text=True)
    found = re.search(r'href="(/cours/activites/\d+[^"]*)"', listing)
    assert found, "nothing to look at"
    path = html.unescape(found.group(1))
    page = client.get(path).get_data(as_text=True)
    times = []
    for n in range(count):
        data = {"csrf_token": _TOKEN.search(page).group(1), "suivante": "1"}  # type: ignore[union-attr]
        suite = _SUITE.search(page)
        if suite:
            data["suite"] = suite.group(1)
        for i, name in enumerate(dict.fromkeys(_FIELD.findall(page))):
            data[name] = ("oui", "partiellement", "non")[(n + i) % 3]
        start = time.perf_counter()
        saved = client.post(path, data=data)
        assert saved.status_code == 303, (n, path, saved.status_code)
        path = saved.headers["Location"].split("localhost")[-1]
        page = client.get(path).get_data(as_text=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="reperes-bench-day-") as name:
        folder = Path(name)
        started = time.perf_counter()
        small, small_client, small_queries = _app(folder, "small.sqlite3", 10, 100)
        big, client, queries = _app(folder, "big.sqlite3", 60, 100)
        print(f"seeded in {time.perf_counter() - started:.1f} s "
              "(10 and 60 candidats × 100 activities: 1,000 and 6,000)")
        print(f"\n{'page':34} {'median':>8} {'p95':>8} {'SQL 60':>7} {'SQL 10':>7}")
        for path in ("/cours", "/cours/a-regarder"):
            found = measure(client, path, args.rounds, queries)
            few = measure(small_client, path, 3, small_queries)
            same = round(found["queries"]) == round(few["queries"])
            ok = ok and found["p95"] < PAGE_MS and same
            print(f"{path:34} {found['median']:7.1f}ms {found['p95']:7.1f}ms "
                  f"{found['queries']:7.0f} {few['queries']:7.0f}"
                  + ("" if same else "  <- grows with candidats"))
        times = steps(client, 20)
        median = statistics.median(times)
        ok = ok and median < STEP_MS
        print(f"\n« Enregistrer et suivante », 20 steps (POST + GET of the next): median "
              f"{median:.1f} ms, max {max(times):.1f} ms (target median < {STEP_MS:.0f} ms)")
        small.extensions["reperes"].engine.dispose()
        big.extensions["reperes"].engine.dispose()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
