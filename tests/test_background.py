"""A running service retries storage writes by itself, and runs the sync when asked."""

from __future__ import annotations

import threading

from integration.dossier import queue
from integration.moodle import scheduler
from integration.ops import background

BACKGROUND_THREADS = {"reperes-storage-retry", "reperes-sync-stop"}


def test_the_service_retries_storage_and_syncs_in_the_background(app, monkeypatch) -> None:
    runtime = app.extensions["reperes"]
    drained, synced = threading.Event(), threading.Event()
    monkeypatch.setattr(background, "STORAGE_RETRY_SECONDS", 0.01)
    monkeypatch.setattr(queue, "drain_pending_writes", lambda rt: drained.set())

    class FakeBackground:
        def stop(self) -> None:
            synced.set()

    monkeypatch.setattr(scheduler, "start_background_sync", lambda rt, every: FakeBackground())
    runtime.settings = runtime.settings.with_changes(sync_every=900)
    stop = background.start_background_work(runtime)
    try:
        assert drained.wait(5), "pending storage writes were not retried"
    finally:
        stop.set()
    assert synced.wait(5), "the background sync was not stopped with the service"
    for thread in threading.enumerate():  # stopped means gone, before the next test looks
        if thread.name in BACKGROUND_THREADS:
            thread.join(5)
            assert not thread.is_alive(), f"{thread.name} did not stop"


def test_no_background_thread_starts_with_the_app(app) -> None:
    names = {t.name for t in threading.enumerate()}
    assert not BACKGROUND_THREADS & names
