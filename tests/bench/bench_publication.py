"""Benchmark: 100 dossiers of 5 MB written to a local WebDAV server through the publication path.

    python tests/bench/bench_publication.py [--count 100] [--size-mb 5]

What is timed is `integration.dossier.publication.publish_dossier`, as the queue runs it: the
dossier's bytes read from the database, its folder chosen, the lease per parcours, the
look before writing (PROPFIND), the conditional PUT, the record, the photos (none here),
the shares (no rule: none) and the folder's link (one PROPFIND). Two passes:

- « création »: a first dossier per candidat (PUT with If-None-Match: *);
- « mise à jour »: a second version of each (PUT with If-Match, sizes differing as two
  real dossiers do). Its record also frees the first version's bytes in the database,
  which SQLite (built with SECURE_DELETE) overwrites: a good part of that pass's time.

The WebDAV server (WsgiDAV, tests/webdav_server.py) runs in another process and the
publication in a child process, which reports its own peak memory (VmHWM).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PASSWORD = "bench-app-password"


def _settings(work: Path, url: str):  # type: ignore[no-untyped-def]
    from integration.settings import Settings

    return Settings(var_dir=work / "var", database_url=f"sqlite:///{work / 'bench.sqlite3'}",
                    secret_key="bench", testing=True, storage_url=url,
                    storage_username="reperes", storage_password=PASSWORD)


def prepare(work: Path, url: str, count: int, size: int, version: int) -> list[int]:
    """`count` candidats with one new dossier each, queued (as a generation leaves them)."""
    from integration.db import make_engine, transaction, upgrade
    from integration.dossier.folders import ensure_folder
    from integration.dossier.publication import queue_dossier
    from integration.models import Dossier, Parcours, Role
    from integration.runtime import Runtime
    from tests.support.parcours import (
        make_course,
        make_membership,
        make_parcours,
        make_person,
        make_platform,
    )

    settings = _settings(work, url)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    runtime = Runtime.from_settings(settings)
    block = os.urandom(1 << 20)
    ids = []
    with transaction(runtime.sessions) as session:
        if version == 1:
            platform = make_platform(session, name="Bench")
            course = make_course(session, platform, title="Parcours RAE 2027")
            for number in range(count):
                person = make_person(session, platform)
                person.given_name, person.family_name = "Candidat", f"N°{number:03d}"
                make_membership(session, course, person, Role.CANDIDAT)
                make_parcours(session, person, course, referentiels=())
        for parcours in session.query(Parcours).order_by(Parcours.id):
            folder = ensure_folder(session, parcours)
            length = size + 17 * version + parcours.id  # two real dossiers rarely weigh the same
            head = f"dossier {parcours.id} version {version}\n".encode()
            data = (head + block * (length // len(block) + 1))[:length]
            dossier = Dossier(
                parcours_id=parcours.id, version=version, template="bench",
                storage_path=f"{folder.path}/Dossier de preuves - {folder.name}.docx",
                checksum=hashlib.sha256(data).hexdigest(), size=len(data), state="queued",
                content=data,
            )
            session.add(dossier)
            session.flush()
            queue_dossier(session, dossier)
            ids.append(dossier.id)
    runtime.engine.dispose()
    return ids


def publish_all(work: Path, url: str) -> dict[str, float]:
    """In the child: publish every queued dossier; time, bytes and peak memory."""
    from sqlalchemy import select

    from integration.db import transaction
    from integration.dossier.publication import publish_dossier
    from integration.models import Dossier
    from integration.runtime import Runtime

    runtime = Runtime.from_settings(_settings(work, url))
    with transaction(runtime.sessions) as session:
        sizes = dict(session.execute(
            select(Dossier.id, Dossier.size).where(Dossier.state == "queued").order_by(Dossier.id)
        ).all())
    queued = list(sizes)
    before = _vm("VmRSS")
    started = time.perf_counter()
    states: dict[str, int] = {}
    for dossier_id in queued:
        outcome = publish_dossier(runtime, dossier_id)
        states[outcome.state] = states.get(outcome.state, 0) + 1
    seconds = time.perf_counter() - started
    total = sum(sizes.values())
    return {"seconds": seconds, "mb": total / 1e6, "mb_per_s": total / 1e6 / seconds,
            "peak_mb": _vm("VmHWM"), "before_mb": before, "written": states.get("written", 0),
            "count": len(queued)}


def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(root: Path) -> tuple[subprocess.Popen[str], str]:
    """tests/webdav_server.py in another process; its folder URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.webdav_server", str(root), "--password", PASSWORD],
        stdout=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url:
        process.kill()
        raise SystemExit("the WebDAV server did not start")
    return process, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--size-mb", type=float, default=5.0)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(publish_all(Path(args.child[0]), args.child[1])))
        return
    size = int(args.size_mb * 1_000_000)
    with tempfile.TemporaryDirectory(prefix="bench-publication-") as tmp:
        work = Path(tmp)
        (work / "dav").mkdir()
        process, server = start_server(work / "dav")
        url = f"{server}/Repères"
        failed = False
        try:
            print(f"{args.count} dossiers de {size / 1e6:g} Mo vers {server} "
                  f"(WsgiDAV dans un autre processus), {os.cpu_count()} cœurs")
            for version, label in ((1, "création"), (2, "mise à jour (If-Match)")):
                prepare(work, url, args.count, size, version)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(work), url],
                    capture_output=True, text=True, check=True, cwd=ROOT,
                    env={**os.environ, "PYTHONPATH": str(ROOT)},
                )
                r = json.loads(out.stdout.strip().splitlines()[-1])
                on_disk = list((work / "dav" / "Repères").rglob("*.docx"))
                ok = r["written"] == r["count"] == args.count and len(on_disk) == args.count
                failed |= not ok
                print(f"  {label:24s} {r['mb']:.0f} Mo en {r['seconds']:.1f} s = "
                      f"{r['mb_per_s']:.0f} Mo/s ; mémoire max {r['peak_mb']:.0f} Mo "
                      f"(avant : {r['before_mb']:.0f} Mo) ; {r['written']} écrits, "
                      f"{len(on_disk)} fichiers -> {'OK' if ok else 'PROBLÈME'}")
        finally:
            process.terminate()
            process.wait(timeout=10)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
