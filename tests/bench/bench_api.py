"""API throughput for tagging: requests per second with 2 gunicorn workers.

Run: python tests/bench/bench_api.py [--requests N] [--clients C] [--backend sqlite|postgresql]

For each backend (SQLite file, then a throw-away PostgreSQL cluster started like the tests
do), the database is migrated and seeded, gunicorn serves `integration.wsgi:app` with two
workers (the deploy config, access log off) on 127.0.0.1, and C client threads send N
tagging writes in all: POST /api/v1/tasks/{id}/tags with a new comment each time (a real
write: the tag row and a history line). Loops are bounded; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from integration import create_app  # noqa: E402
from integration.auth import RECORD_KEY, SESSION_KEY, start_session  # noqa: E402
from integration.db import make_engine, upgrade  # noqa: E402
from integration.settings import Settings  # noqa: E402
from tests.support import postgres  # noqa: E402
from tests.support.parcours import Cast, committed, make_task  # noqa: E402

SECRET_KEY = "bench-secret-key"
TASKS = 40
CODES = ["C1", "C2", "C3", "C4", "C5", "C6"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(url: str, var_dir: Path) -> tuple[str, str, list[int]]:
    """Migrate, make the cast and Alice's tasks; return (cookie, csrf token, task ids)."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    with committed(url) as session:
        cast = Cast.build(session)
        parcours = cast.parcours["alice"]
        task_ids = [make_task(session, parcours, title=f"Tâche {i}").id for i in range(TASKS)]
    app = create_app(Settings(var_dir=var_dir, database_url=url, secret_key=SECRET_KEY))
    token = secrets.token_urlsafe(32)
    actor = cast.actor("alice")
    # A session as a launch leaves it: the actor, its server-side record, a CSRF token.
    record = start_session(app.extensions["reperes"].sessions, actor)
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    cookie = serializer.dumps(
        {SESSION_KEY: actor.to_session(), RECORD_KEY: record, "csrf_token": token}
    )
    app.extensions["reperes"].engine.dispose()
    return cookie, token, task_ids


def _serve(url: str, var_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {
        **os.environ,
        "REPERES_DATABASE_URL": url,
        "REPERES_SECRET_KEY": SECRET_KEY,
        "REPERES_VAR_DIR": str(var_dir),
        "GUNICORN_WORKERS": "2",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "PYTHONPATH": str(ROOT),
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
         "--access-logfile", "/dev/null", "--log-level", "warning", "integration.wsgi:app"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn stopped: see {log}")
        try:
            if requests.get(base + "/healthz", timeout=5).status_code == 200:
                return process, base
        except requests.RequestException:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"gunicorn did not answer within 60 s: see {log}")


def _load(base: str, cookie: str, token: str, task_ids: list[int], total: int,
          clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    per_client = total // clients

    def client(n: int) -> None:
        session = requests.Session()
        session.cookies.set("session", cookie, domain="127.0.0.1", path="/")
        headers = {"X-CSRF-Token": token}
        mine: list[float] = []
        seen: dict[int, int] = {}
        for i in range(per_client):
            k = n * per_client + i
            task_id = task_ids[k % len(task_ids)]
            code = CODES[(k // len(task_ids)) % len(CODES)]
            started = time.perf_counter()
            response = session.post(
                f"{base}/api/v1/tasks/{task_id}/tags", headers=headers, timeout=60,
                json={"address": f"TP-APH@2008-08-13#{code}", "comment": f"passage {k}"},
            )
            mine.append(time.perf_counter() - started)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
        with lock:
            latencies.extend(mine)
            for status, count in seen.items():
                statuses[status] = statuses.get(status, 0) + count

    # Warm both workers (imports, catalog, first connections) before timing.
    warm = requests.Session()
    warm.cookies.set("session", cookie, domain="127.0.0.1", path="/")
    for _ in range(10):
        warm.get(f"{base}/api/v1/tasks/{task_ids[0]}/tags", timeout=60)
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "statuses": statuses,
    }


def _run(name: str, url: str, workdir: Path, total: int, clients: int) -> None:
    var_dir = workdir / f"var-{name}"
    cookie, token, task_ids = _seed(url, var_dir)
    process, base = _serve(url, var_dir, workdir / f"gunicorn-{name}.log")
    try:
        result = _load(base, cookie, token, task_ids, total, clients)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    ok = result["statuses"].get(200, 0) + result["statuses"].get(201, 0)
    print(
        f"{name:10s} {result['requests']} tagging writes, {clients} clients, 2 workers: "
        f"{result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, "
        f"p95 {result['p95_ms']:.1f} ms, ok {ok}, other {dict(result['statuses'])}"
    )
    if ok != result["requests"]:
        # A figure made of refusals measures nothing: say so and fail.
        raise SystemExit(f"{name}: {result['requests'] - ok} requests were not accepted")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reperes-bench-api-") as tmp:
        workdir = Path(tmp)
        if args.backend in ("sqlite", "both"):
            _run("sqlite", f"sqlite:///{workdir / 'bench.sqlite3'}", workdir,
                 args.requests, args.clients)
        if args.backend in ("postgresql", "both"):
            given = os.environ.get("REPERES_TEST_POSTGRES_URL")
            if not given and not postgres.available():
                print("postgresql: skipped (no server binaries; set REPERES_TEST_POSTGRES_URL)")
                return
            cluster = None if given else postgres.Cluster()
            try:
                admin = given or cluster.start()  # type: ignore[union-attr]
                url = postgres.create_database(admin, f"reperes_bench_{os.getpid()}")
                _run("postgresql", url, workdir, args.requests, args.clients)
            finally:
                if cluster is not None:
                    cluster.stop()


if __name__ == "__main__":
    main()
