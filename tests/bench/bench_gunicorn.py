"""Repères in production shape: launches and tagging writes per second under gunicorn.

Run: python tests/bench/bench_gunicorn.py [--seconds 30] [--clients 20] [--workers 2]

A throw-away PostgreSQL cluster is started like the tests do (or REPERES_TEST_POSTGRES_URL
is used), the image's entrypoint starts gunicorn with deploy/gunicorn.conf.py (2 workers,
JSON logs to a file, the demo platform on) on 127.0.0.1, and then, each phase for the
given seconds with C client threads on loopback:

1. launches: the whole LTI 1.3 flow of the demo platform over HTTP, as a browser does it
   (platform start page, POST /lti/login, the platform's auth endpoint, POST /lti/launch):
   four requests, counted as one launch, each client cycling through the demo people;
2. tagging: each client, launched as a candidat, links its own tasks to compétences
   (POST /api/v1/tasks/{id}/tags with a new comment: a real write each time).

Figures: operations per second, p50 and p95 latency, errors (target: none). Every loop
stops at the deadline or after a bounded count; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.support import postgres  # noqa: E402
from tests.support.lti import read_form  # noqa: E402

ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
PEOPLE = ["candidat1", "candidat2", "candidat3", "accompagnatrice", "coordinateur"]
CANDIDATS = ["candidat1", "candidat2", "candidat3"]
REFERENTIEL = "TP-APH@2008-08-13"
CODES = ["C1", "C2", "C3", "C4", "C5", "C6"]
MAX_OPERATIONS_PER_CLIENT = 100_000  # a bound, whatever the machine's speed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(url: str, workdir: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPERES_", "GUNICORN_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        REPERES_DATABASE_URL=url,
        REPERES_SECRET_KEY="bench-secret-key",
        REPERES_VAR_DIR=str(workdir / "var"),
        REPERES_BASE_URL=f"http://127.0.0.1:{port}",
        REPERES_DEMO="true",
        REPERES_LOG_JSON="true",
        GUNICORN_CONF=str(ROOT / "deploy" / "gunicorn.conf.py"),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS=str(workers),
    )
    log = workdir / "gunicorn.log"
    process = subprocess.Popen(["sh", str(ENTRYPOINT), "serve"], cwd=ROOT, env=env,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn stopped: see {log}")
        try:
            if requests.get(base + "/readyz", timeout=5).status_code == 200:
                return process, base
        except requests.RequestException:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"gunicorn did not answer within 90 s: see {log}")


class LaunchFailed(Exception):
    pass


def launch(http: requests.Session, base: str, who: str) -> None:
    """The demo platform's OIDC flow over HTTP; raises LaunchFailed on any surprise."""
    http.cookies.clear()
    start = http.get(f"{base}/demo/start", params={"who": who, "course": "rae"}, timeout=60)
    if start.status_code != 200:
        raise LaunchFailed(f"start {start.status_code}")
    action, fields = read_form(start.text)
    login = http.post(action, data=fields, allow_redirects=False, timeout=60)
    if login.status_code != 302:
        raise LaunchFailed(f"login {login.status_code}")
    auth = http.get(login.headers["Location"], timeout=60)
    if auth.status_code != 200:
        raise LaunchFailed(f"auth {auth.status_code}")
    action, form = read_form(auth.text)
    done = http.post(action, data=form, allow_redirects=False, timeout=60)
    if done.status_code != 303 or not http.cookies.get("session"):
        raise LaunchFailed(f"launch {done.status_code}")


def _phase(name: str, clients: int, seconds: float,
           setup: Callable[[int], Any], operation: Callable[[Any, int], None]) -> dict[str, Any]:
    """Run `operation(state, i)` in `clients` threads for `seconds`; collect the figures."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    states = [setup(n) for n in range(clients)]
    barrier = threading.Barrier(clients + 1)
    deadline_box: list[float] = []

    def client(n: int) -> None:
        mine: list[float] = []
        failed: dict[str, int] = {}
        barrier.wait()
        deadline = deadline_box[0]
        for i in range(MAX_OPERATIONS_PER_CLIENT):
            if time.monotonic() >= deadline:
                break
            started = time.perf_counter()
            try:
                operation(states[n], i)
            except Exception as exc:  # counted, never fatal: the figure is the error count
                key = f"{type(exc).__name__}: {str(exc)[:60]}"
                failed[key] = failed.get(key, 0) + 1
                continue
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            for key, count in failed.items():
                errors[key] = errors.get(key, 0) + count

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    deadline_box.append(time.monotonic() + seconds)
    began = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    count = len(latencies)
    return {
        "name": name,
        "count": count,
        "per_second": count / elapsed,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p95_ms": latencies[max(0, int(count * 0.95) - 1)] * 1000 if latencies else float("nan"),
        "errors": errors,
        "seconds": elapsed,
    }


def _print(result: dict[str, Any], clients: int, workers: int, unit: str) -> None:
    errors = sum(result["errors"].values())
    print(
        f"{result['name']:8s} {clients} clients, {workers} workers, {result['seconds']:.0f} s: "
        f"{result['count']} {unit}, {result['per_second']:.1f}/s, "
        f"p50 {result['p50_ms']:.0f} ms, p95 {result['p95_ms']:.0f} ms, errors {errors}"
        + (f" {result['errors']}" if errors else "")
    )


def run(url: str, workdir: Path, seconds: float, clients: int, workers: int) -> int:
    process, base = _serve(url, workdir, workers)
    try:
        # Warm both workers (imports, catalog, connections) before timing.
        warm = requests.Session()
        for who in PEOPLE:
            launch(warm, base, who)

        def launch_setup(n: int) -> requests.Session:
            return requests.Session()

        def launch_once(http: requests.Session, i: int) -> None:
            launch(http, base, PEOPLE[i % len(PEOPLE)])

        launches = _phase("launches", clients, seconds, launch_setup, launch_once)
        _print(launches, clients, workers, "launches (4 requests each)")

        def tag_setup(n: int) -> dict[str, Any]:
            http = requests.Session()
            launch(http, base, CANDIDATS[n % len(CANDIDATS)])
            csrf = http.get(f"{base}/api/v1/session", timeout=60).json()["csrf_token"]
            headers = {"X-CSRF-Token": csrf}
            parcours = http.get(f"{base}/api/v1/parcours/mine", timeout=60).json()
            if not parcours.get("referentiels"):
                http.put(f"{base}/api/v1/parcours/{parcours['id']}/referentiels",
                         headers=headers, json={"referentiels": [REFERENTIEL]}, timeout=60)
            tasks = []
            for k in range(3):
                made = http.post(f"{base}/api/v1/parcours/{parcours['id']}/tasks",
                                 headers=headers, timeout=60,
                                 json={"title": f"Tâche {n}-{k} du banc d’essai"})
                if made.status_code != 201:
                    raise RuntimeError(f"task not made: {made.status_code} {made.text[:200]}")
                tasks.append(made.json()["id"])
            return {"http": http, "headers": headers, "tasks": tasks, "n": n}

        def tag_once(state: dict[str, Any], i: int) -> None:
            task = state["tasks"][i % len(state["tasks"])]
            code = CODES[(i // len(state["tasks"])) % len(CODES)]
            answer = state["http"].post(
                f"{base}/api/v1/tasks/{task}/tags", headers=state["headers"], timeout=60,
                json={"address": f"{REFERENTIEL}#{code}", "comment": f"passage {i}"},
            )
            if answer.status_code not in (200, 201):
                raise RuntimeError(f"HTTP {answer.status_code}")

        tagging = _phase("tagging", clients, seconds, tag_setup, tag_once)
        _print(tagging, clients, workers, "tagging writes")
        return sum(tagging["errors"].values()) + sum(launches["errors"].values())
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="each phase")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    given = os.environ.get("REPERES_TEST_POSTGRES_URL")
    if not given and not postgres.available():
        print("skipped: no PostgreSQL server binaries (or set REPERES_TEST_POSTGRES_URL)")
        return
    with tempfile.TemporaryDirectory(prefix="reperes-bench-gunicorn-") as tmp:
        cluster = None if given else postgres.Cluster()
        try:
            admin = given or cluster.start()  # type: ignore[union-attr]
            url = postgres.create_database(admin, f"reperes_bench_gunicorn_{os.getpid()}")
            errors = run(url, Path(tmp), args.seconds, args.clients, args.workers)
        finally:
            if cluster is not None:
                cluster.stop()
    print("target: no error —", "met" if errors == 0 else f"NOT met ({errors} errors)")


if __name__ == "__main__":
    main()
