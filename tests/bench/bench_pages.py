"""Server time of the pages, and the weight of the task list.

Run: python tests/bench/bench_pages.py [--rounds N]

Seeds a SQLite database with (1) a candidat with 200 tasks (photos described, compétences
linked) and (2) a course of 60 candidats with 40 tasks each and reviews, then renders each
page N times through the Flask test client (no network: the time is the server's), and
prints the median and the 95th percentile per page, the SQL statements per page (a
number that must not grow with the data: no N+1), and the bytes of the task list with
its style sheet, script and pictograms (photos are loaded lazily, apart). Targets: under
100 ms p95, under 200 KB before photos.
"""

from __future__ import annotations

import argparse
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
from integration.auth import Actor  # noqa: E402
from integration.db import make_engine, upgrade  # noqa: E402
from integration.models import (  # noqa: E402
    Evidence,
    Modalite,
    Review,
    Role,
    Tag,
    Task,
    TaskSource,
    Verdict,
)
from integration.settings import Settings  # noqa: E402
from referentiels import Catalog  # noqa: E402
from tests.support.parcours import (  # noqa: E402
    actor_of,
    committed,
    make_course,
    make_membership,
    make_parcours,
    make_person,
    make_platform,
)

REF = ("CAP-EPC", "2019-10-29")
TARGET_MS = 100.0
TARGET_KB = 200.0
WORDS = ["Je range les vêtements en rayon", "J’accueille les clients à la caisse",
         "Je reçois les livraisons", "Je mets les étiquettes", "Je compte le stock",
         "Je nettoie la réserve", "Je prépare une commande", "Je conseille une cliente"]


def _codes() -> list[str]:
    ref = Catalog.shipped().get(*REF)
    return [c.code for c in ref.competences()]


def _tasks(session: Any, parcours_id: int, person_id: int, count: int, codes: list[str],
           ) -> list[int]:
    tasks = [Task(parcours_id=parcours_id, title=f"{WORDS[i % len(WORDS)]} ({i + 1})",
                  where="à l’épicerie solidaire", tools="une balance, un chariot",
                  how="Je regarde la liste, je prends les produits, je vérifie.",
                  frequency="toutes les semaines", created_by_id=person_id,
                  source=TaskSource.WORKPLACE if i % 5 else TaskSource.MOODLE)
             for i in range(count)]
    session.add_all(tasks)
    session.flush()
    for i, task in enumerate(tasks):
        for n in range(1 + i % 2):
            session.add(Evidence(
                task_id=task.id, kind="photo", storage_path=f"evidence/x/{task.id}-{n}.jpg",
                medium_path=f"evidence/x/{task.id}-{n}-medium.jpg",
                preview_path=f"evidence/x/{task.id}-{n}-preview.jpg",
                original_name="photo.jpg", content_type="image/jpeg", size=1000,
                sha256="0" * 64, width=4000, height=3000, created_by_id=person_id))
        for n in range(1 + i % 3):
            session.add(Tag(task_id=task.id, referentiel_id=REF[0], referentiel_version=REF[1],
                            competence_code=codes[(i + n * 5) % len(codes)],
                            created_by_id=person_id))
    session.flush()
    return [t.id for t in tasks]


def seed(url: str) -> dict[str, Any]:
    codes = _codes()
    with committed(url) as session:
        platform = make_platform(session)
        alone = make_course(session, platform, title="Cours d’une candidate")
        samira = make_person(session, platform, name="Samira B.")
        make_membership(session, alone, samira, Role.CANDIDAT)
        mine = make_parcours(session, samira, alone, referentiels=[REF],
                             modalite=Modalite.CONCRET)
        task_ids = _tasks(session, mine.id, samira.id, 200, codes)

        course = make_course(session, platform, title="Parcours RAE")
        nadia = make_person(session, platform, name="Nadia L.")
        make_membership(session, course, nadia, Role.ACCOMPAGNATEUR)
        parcours_ids = []
        for n in range(60):
            person = make_person(session, platform, name=f"Candidat {n + 1:02d}")
            make_membership(session, course, person, Role.CANDIDAT)
            parcours = make_parcours(session, person, course, referentiels=[REF])
            _tasks(session, parcours.id, person.id, 40, codes)
            for i, code in enumerate(codes[: n % len(codes)]):
                session.add(Review(parcours_id=parcours.id, referentiel_id=REF[0],
                                   referentiel_version=REF[1], competence_code=code,
                                   verdict=list(Verdict)[i % 3], reviewer_id=nadia.id,
                                   reviewer_name="Nadia L."))
            parcours_ids.append(parcours.id)
        return {
            "candidat": actor_of(samira, alone, Role.CANDIDAT),
            "accompagnateur": actor_of(nadia, course, Role.ACCOMPAGNATEUR),
            "task": task_ids[17],
            "parcours": parcours_ids[30],
            "code": codes[0],
        }


def _client(app: Any, actor: Actor) -> Any:
    from tests.support.parcours import sign_in

    client = app.test_client()
    sign_in(client, actor)
    return client


def measure(client: Any, path: str, rounds: int, queries: list[int]) -> dict[str, Any]:
    for _ in range(3):  # warm: templates compiled, catalog and suggestion index built
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code,
                                              response.get_data(as_text=True)[:500])
    times = []
    before = queries[0]
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "median": statistics.median(times),
        "p95": times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))],
        "queries": (queries[0] - before) / rounds,
        "bytes": len(response.data),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reperes-bench-pages-") as folder:
        var = Path(folder)
        url = f"sqlite:///{var / 'bench.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        started = time.perf_counter()
        data = seed(url)
        print(f"seeded in {time.perf_counter() - started:.1f} s "
              "(a candidat with 200 tasks; a course of 60 candidats × 40 tasks)")
        app = create_app(Settings(var_dir=var, database_url=url, secret_key="bench"))
        queries = [0]
        event.listen(app.extensions["reperes"].engine, "before_cursor_execute",
                     lambda *a, **k: queries.__setitem__(0, queries[0] + 1))
        candidat = _client(app, data["candidat"])
        accompagnateur = _client(app, data["accompagnateur"])
        task, parcours, code = data["task"], data["parcours"], data["code"]
        pages = [
            ("candidat", candidat, "/moi"),
            ("candidat", candidat, f"/moi/activites/{task}"),
            ("candidat", candidat, f"/moi/activites/{task}/competences"),
            ("candidat", candidat, "/moi/referentiel"),
            ("candidat", candidat, "/moi/activites/nouvelle"),
            ("candidat", candidat, "/moi/modalite"),
            ("accompagnateur", accompagnateur, "/cours"),
            ("accompagnateur", accompagnateur, "/cours/tableau"),
            ("accompagnateur", accompagnateur, f"/cours/candidats/{parcours}"),
            ("accompagnateur", accompagnateur,
             f"/cours/candidats/{parcours}/competences/{REF[0]}/{REF[1]}/{code}"),
        ]
        print(f"\n{'page':58} {'median':>8} {'p95':>8} {'SQL':>5} {'KB':>7}")
        worst = 0.0
        for who, client, path in pages:
            found = measure(client, path, args.rounds, queries)
            worst = max(worst, found["p95"])
            print(f"{who + ' ' + path:58} {found['median']:7.1f}ms {found['p95']:7.1f}ms "
                  f"{found['queries']:5.0f} {found['bytes'] / 1024:6.1f}")
        static = {name: len(candidat.get(f"/static/{name}").data)
                  for name in ("reperes.css", "reperes.js", "pictos/pictos.svg")}
        html = len(candidat.get("/moi").data)
        total = (html + sum(static.values())) / 1024
        print(f"\ntask list (200 tasks) before photos: HTML {html / 1024:.1f} KB + "
              + " + ".join(f"{k} {v / 1024:.1f} KB" for k, v in static.items())
              + f" = {total:.1f} KB (target < {TARGET_KB:.0f} KB)")
        print(f"worst p95: {worst:.1f} ms (target < {TARGET_MS:.0f} ms)")
        app.extensions["reperes"].engine.dispose()
        return 0 if worst < TARGET_MS and total < TARGET_KB else 1


if __name__ == "__main__":
    raise SystemExit(main())
