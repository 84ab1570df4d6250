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
    before = set(threading.enumerate())
    stop = background.start_background_work(runtime)
    started = [t for t in set(threading.enumerate()) - before if t.name in BACKGROUND_THREADS]
    assert {t.name for t in started} == BACKGROUND_THREADS
    try:
        assert drained.wait(5), "pending storage writes were not retried"
    finally:
        stop.set()
    assert synced.wait(5), "the background sync was not stopped with the service"
    for thread in started:  # stopped means gone
        thread.join(5)
        assert not thread.is_alive(), f"{thread.name} did not stop"


def test_no_background_thread_starts_with_the_app(migrated) -> None:
    from integration import create_app

    before = set(threading.enumerate())
    app = create_app(migrated)
    try:
        started = {t.name for t in set(threading.enumerate()) - before}
        assert not BACKGROUND_THREADS & started
    finally:
        app.extensions["reperes"].engine.dispose()
