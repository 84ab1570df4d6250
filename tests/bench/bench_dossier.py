"""Benchmark: a whole dossier from a big parcours, through the real services.

    python tests/bench/bench_dossier.py [--runs 3] [--keep DIR]

The parcours: 200 tasks, 60 tagged compétences (5 référentiels), 40 phone photos of
4000×3000 uploaded through the evidence service (so the reduced copies exist, as in
production), half the compétences reviewed. Each measure runs `generate_dossier` in a
fresh child process, which reports its peak memory from /proc/self/status (VmHWM):

- « fait »: gather the context, read the 40 reduced photos from the store, render, record;
- « fait + copié »: the same, then written to the local-folder store with its photos.

Targets: made in < 2 s, peak memory < 300 MB, file < 15 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

N_TASKS = 200
N_PHOTOS = 40
REFERENTIELS = [  # 14 + 11 + 6 + 10 + 19 = 60 compétences
    ("CAP-EPC", "2019-10-29"),
    ("TP-AM", "2014-02-23"),
    ("TP-APH", "2008-08-13"),
    ("TP-AR", "2006-09-08"),
    ("TP-OP", "2003-09-11"),
]
TARGET_SECONDS = 2.0
TARGET_MB = 300.0
TARGET_FILE_MB = 15.0


def _settings(work: Path):  # type: ignore[no-untyped-def]
    from integration.settings import Settings

    return Settings(var_dir=work / "var", database_url=f"sqlite:///{work / 'bench.sqlite3'}",
                    secret_key="bench", testing=True)


def build_parcours(work: Path) -> dict[str, int]:
    """The big parcours, told through the services. Returns the ids the child needs."""
    from bench_docx import make_phone_photo

    from integration import parcours as services
    from integration.db import make_engine, transaction, upgrade
    from integration.models import Role
    from integration.parcours.catalog import load_catalog
    from integration.runtime import Runtime
    from tests.support.parcours import (
        actor_of,
        make_course,
        make_membership,
        make_parcours,
        make_person,
        make_platform,
    )

    settings = _settings(work)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    runtime = Runtime.from_settings(settings)
    with transaction(runtime.sessions) as session:
        platform = make_platform(session, name="La Fabrique de l'Emploi")
        course = make_course(session, platform, title="Parcours RAE 2027")
        person = make_person(session, platform, name="Sandrine Delattre")
        person.given_name, person.family_name = "Sandrine", "Delattre"
        carla = make_person(session, platform, name="Nadia Lefebvre")
        make_membership(session, course, person, Role.CANDIDAT)
        make_membership(session, course, carla, Role.ACCOMPAGNATEUR)
        parcours = make_parcours(session, person, course, referentiels=REFERENTIELS)
        ids = {"parcours": parcours.id, "person": person.id, "course": course.id,
               "platform": platform.id, "carla": carla.id}
    candidat = actor_of(person, course, Role.CANDIDAT)
    accompagnateur = actor_of(carla, course, Role.ACCOMPAGNATEUR)
    started = time.perf_counter()
    with transaction(runtime.sessions) as session:
        catalog = load_catalog(session, platform_id=None)
        codes = [(ref_id, c.code) for ref_id, version in REFERENTIELS
                 for c in catalog.get(ref_id, version).competences()]
        assert len(codes) == 60, len(codes)
        for i in range(N_TASKS):
            task = services.create_task(session, candidat, parcours.id, {
                "title": f"Tâche {i + 1} : je trie, je range et je nettoie la réserve",
                "description": "Je commence tôt.\nJe vérifie chaque objet.\n" * 3,
                "how": "Du plus propre au plus sale, du haut vers le bas.",
                "where": "Recyclerie des Oliveaux, Loos",
                "tools": "Chariot, seau, balai, étiquettes",
                "frequency": "Tous les jours",
            })
            for ref_id, code in {codes[i % 60], codes[(i * 7 + 3) % 60]} if i % 4 == 0 \
                    else {codes[i % 60]}:
                services.add_tag(session, candidat, task.id, referentiel_id=ref_id,
                                 competence_code=code, catalog=catalog)
            if i % 5 == 0 and i // 5 < N_PHOTOS:
                services.attach_evidence(session, candidat, runtime.store, task.id,
                                         make_phone_photo(i), filename=f"IMG_{i}.jpg",
                                         caption=f"Photo {i // 5 + 1} de la réserve")
        for n, (ref_id, code) in enumerate(codes[::2]):
            services.add_review(session, accompagnateur, parcours.id, referentiel_id=ref_id,
                                competence_code=code, catalog=catalog,
                                verdict=("oui", "partiellement", "non")[n % 3],
                                comment="Bien montré sur le terrain, à détailler à l'oral.")
    print(f"parcours ready in {time.perf_counter() - started:.0f} s "
          f"({N_TASKS} tasks, 60 compétences, {N_PHOTOS} photos uploaded)", flush=True)
    runtime.engine.dispose()
    return ids


def measure(work: Path, publish: bool) -> dict[str, float]:
    """In the child: make one dossier, report time, memory and size."""
    from integration.auth import Actor
    from integration.dossier.build import generate_dossier
    from integration.models import Role
    from integration.runtime import Runtime

    ids = json.loads((work / "ids.json").read_text())
    runtime = Runtime.from_settings(_settings(work))
    actor = Actor(person_id=ids["person"], platform_id=ids["platform"], course_id=ids["course"],
                  role=Role.CANDIDAT)
    before = _vm("VmRSS")
    started = time.perf_counter()
    made = generate_dossier(runtime, actor, ids["parcours"], publish=publish)
    seconds = time.perf_counter() - started
    if publish:
        assert made.outcome is not None and made.outcome.state == "written", made.outcome
    pdf_seconds = float("nan")
    if not publish and os.environ.get("BENCH_PDF") == "1":
        from integration.dossier import pdf

        if pdf.available():  # the « Télécharger en PDF » conversion, without its cache
            started = time.perf_counter()
            pdf.convert(made.data, profile=work / "libreoffice-profile")
            pdf_seconds = time.perf_counter() - started
    return {"pdf_seconds": pdf_seconds, "seconds": seconds, "peak_mb": _vm("VmHWM"),
            "before_mb": before,
            "file_mb": len(made.data) / 1e6, **{k: v for k, v in made.timings.items()}}


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="Build the parcours here and keep it.")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--publish", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.publish)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-dossier-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "ids.json").exists():
            (work / "ids.json").write_text(json.dumps(build_parcours(work)))
        results: dict[str, list[dict[str, float]]] = {"fait": [], "fait + copié": []}
        for _ in range(args.runs):
            for label, flag in (("fait", []), ("fait + copié", ["--publish"])):
                out = subprocess.run(
                    [sys.executable, __file__, "--measure", str(work), *flag],
                    capture_output=True, text=True, check=True, cwd=ROOT,
                    env={**os.environ, "PYTHONPATH": str(ROOT), "BENCH_PDF": "1"},
                )
                results[label].append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"\n{N_TASKS} tâches, 60 compétences, {N_PHOTOS} photos, {os.cpu_count()} cœurs, "
              f"médiane de {args.runs}")
        print(f"{'':16}{'temps':>8}{'contexte':>10}{'photos':>8}{'rendu':>8}{'copie':>8}"
              f"{'mém. max':>10}{'avant':>8}{'fichier':>10}")
        from integration.parcours.files import MEDIUM_SIDE

        made: dict[str, float] = {}
        for label, runs in results.items():
            med = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in runs[0]}
            made = made or med
            print(f"{label:16}{med['seconds']:7.2f}s{med['gather']:9.2f}s{med['photos']:7.2f}s"
                  f"{med['render']:7.2f}s{med.get('publish', 0.0):7.2f}s"
                  f"{med['peak_mb']:7.0f} Mo{med['before_mb']:5.0f} Mo{med['file_mb']:7.1f} Mo")

        pdf_runs = [r["pdf_seconds"] for r in results["fait"]
                    if r["pdf_seconds"] == r["pdf_seconds"]]  # not NaN
        if pdf_runs:
            print(f"PDF (LibreOffice, en plus, après le dossier fait) : "
                  f"{statistics.median(pdf_runs):.2f} s (médiane ; la 1re fois crée le profil "
                  f"de LibreOffice : {pdf_runs[0]:.2f} s)")
        else:
            print("PDF : LibreOffice absent, pas mesuré")

        def verdict(value: float, target: float) -> str:
            return "ok" if value < target else "NON ATTEINT"

        print(f"objectifs (fait) : temps < {TARGET_SECONDS:g} s "
              f"{verdict(made['seconds'], TARGET_SECONDS)}, mémoire < {TARGET_MB:g} Mo "
              f"{verdict(made['peak_mb'], TARGET_MB)}, fichier < {TARGET_FILE_MB:g} Mo "
              f"{verdict(made['file_mb'], TARGET_FILE_MB)} (le fichier, ce sont les copies "
              f"{MEDIUM_SIDE} px des photos faites à l'enregistrement)")


if __name__ == "__main__":
    main()
