"""Work a service process does by itself: the periodic Moodle sync and storage retries.

Started by `reperes serve` and by the WSGI entry (each gunicorn worker, after the fork);
never by `create_app`, so tests and the CLI start no thread. Database leases make the
work run once at a time across processes and machines.
"""

from __future__ import annotations

import logging
import threading

from ..runtime import Runtime

log = logging.getLogger(__name__)

STORAGE_RETRY_SECONDS = 60.0


def _retry_storage_forever(runtime: Runtime, stop: threading.Event) -> None:
    from ..dossier.queue import drain_pending_writes

    while not stop.wait(STORAGE_RETRY_SECONDS):
        try:
            drain_pending_writes(runtime)
        except Exception:  # keep the thread alive; the next round tries again
            log.exception("storage retry round failed")


def start_background_work(runtime: Runtime) -> threading.Event:
    """Start the threads; set the returned event to stop them."""
    stop = threading.Event()
    threading.Thread(
        target=_retry_storage_forever, args=(runtime, stop), name="reperes-storage-retry",
        daemon=True,
    ).start()
    if runtime.settings.sync_every:
        from ..moodle.scheduler import start_background_sync

        background = start_background_sync(runtime, runtime.settings.sync_every)
        threading.Thread(
            target=lambda: (stop.wait(), background.stop()), name="reperes-sync-stop",
            daemon=True,
        ).start()
    return stop
