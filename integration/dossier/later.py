"""Writing a dossier after the answer: the web request records it and answers at once.

The page says « Le dossier est prêt. Il sera copié dans Nextcloud dès que possible. »;
a thread of this process writes it (`publication.publish_dossier`). If the process dies
first, the queue takes over after `publication.INLINE_GRACE` (the row is already queued).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from ..runtime import Runtime
from .publication import PublishOutcome, publish_dossier

log = logging.getLogger(__name__)

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_running: set[Future[PublishOutcome | None]] = set()


def _pool() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reperes-publish")
        return _executor


def publish_soon(
    runtime: Runtime, dossier_id: int, content: bytes | None = None
) -> Future[PublishOutcome | None]:
    """Write the dossier in the background; never raises (the queue is the safety net)."""

    def work() -> PublishOutcome | None:
        try:
            return publish_dossier(runtime, dossier_id, content=content)
        except Exception:
            log.exception("dossier %s: background write failed; the queue will retry",
                          dossier_id)
            return None

    future = _pool().submit(work)
    with _lock:
        _running.add(future)
    future.add_done_callback(lambda done: _forget(done))
    return future


def _forget(future: Future[PublishOutcome | None]) -> None:
    with _lock:
        _running.discard(future)


def wait_for_background_writes(timeout: float = 30.0) -> bool:
    """Wait until the writes started here are done (tests, a clean shutdown)."""
    with _lock:
        pending = list(_running)
    for future in pending:
        try:
            future.result(timeout=timeout)
        except Exception:  # pragma: no cover - work() never raises
            return False
    return True
