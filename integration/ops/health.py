"""Liveness and readiness probes.

- ``/healthz``: the process answers (a container healthcheck, a systemd watchdog).
- ``/readyz``: this instance can serve: the database answers and its migrations are at
  the code's head (503 otherwise, so a load balancer sends no one here), and the shared
  storage answers. A storage outage alone gives 200 with ``"status": "degraded"``: the
  pages, the tags and the review still work, dossier writes wait in their queue, and
  taking every instance out of the load balancer would stop all of that for nothing.

Each check runs with a time limit: a database behind a dead network answers
``"error: timeout"`` instead of holding the probe. Answers name the kind of failure,
never an address or a message that could carry a secret.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from ..db import current_revision, head_revision
from ..runtime import Runtime, current_runtime

bp = Blueprint("health", __name__)

CHECK_TIMEOUT = 5.0  # seconds; probes usually give up after 5 to 10

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_head: list[str | None] = []


def _pool() -> ThreadPoolExecutor:
    # Two threads: a check stuck on a dead network holds one; later probes time out
    # behind it instead of piling up threads.
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reperes-probe")
        return _executor


def code_head() -> str | None:
    """The migration the code needs (read once: it cannot change while the process runs)."""
    if not _head:
        _head.append(head_revision())
    return _head[0]


def _timed(check: Callable[[], str], timeout: float) -> str:
    future = _pool().submit(check)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        return "error: timeout"
    except Exception as exc:  # report, never raise: this is a probe
        return f"error: {type(exc).__name__}"


def check_database(runtime: Runtime) -> str:
    with runtime.engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return "ok"


def check_migrations(runtime: Runtime) -> str:
    current, head = current_revision(runtime.engine), code_head()
    if current == head:
        return "ok"
    return f"error: database at {current or 'none'}, code needs {head}: run `reperes db upgrade`"


def check_storage(runtime: Runtime) -> str:
    store = runtime.store
    if store.stat("") is None:
        # Never created by Repères: a typo in the URL would grow a wrong folder tree.
        return "error: folder missing: check REPERES_STORAGE_URL or create the folder"
    root = getattr(store, "root", None)  # a local folder: it must also be writable
    if root is not None and not os.access(root, os.W_OK | os.X_OK):
        return "error: not writable"
    return "ok"


def readiness(runtime: Runtime, timeout: float = CHECK_TIMEOUT) -> tuple[dict[str, str], int]:
    """The checks and the HTTP status: 503 unless the database is usable."""
    checks = {"database": _timed(lambda: check_database(runtime), timeout)}
    if checks["database"] == "ok":
        checks["migrations"] = _timed(lambda: check_migrations(runtime), timeout)
    else:
        checks["migrations"] = "unknown"
    checks["storage"] = _timed(lambda: check_storage(runtime), timeout)
    database_ok = checks["database"] == "ok" and checks["migrations"] == "ok"
    if not database_ok:
        status = "error"
    elif checks["storage"] != "ok":
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, **checks}, 200 if database_ok else 503


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """The process answers."""
    response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    """The database answers at the right migration, and the file store answers."""
    result, status = readiness(current_runtime())
    response = jsonify(status=result.pop("status"), checks=result)
    response.headers["Cache-Control"] = "no-store"
    return response, status
