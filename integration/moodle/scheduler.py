"""The sync and the storage retries run by the service itself (REPERES_SYNC_EVERY)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from ..ops.locks import LockBusy
from .connection import (
    ClientFactory,
)

if TYPE_CHECKING:
    from ..runtime import Runtime

from .report import RunReport
from .run import DEFAULT_WORKERS, run_sync

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ in the background


class BackgroundSync:
    """A daemon thread running the sync every ``interval`` seconds, under the lease."""

    def __init__(
        self,
        runtime: Runtime,
        interval: float,
        *,
        first_delay: float,
        client_factory: ClientFactory | None = None,
        workers: int = DEFAULT_WORKERS,
    ) -> None:
        if interval <= 0:
            raise ValueError("the interval must be positive")
        self.runtime = runtime
        self.interval = interval
        self.first_delay = first_delay
        self.client_factory = client_factory
        self.workers = workers
        self.rounds = 0
        self.last_reports: list[RunReport] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="reperes-sync", daemon=True)

    def start(self) -> BackgroundSync:
        self.thread.start()
        return self

    def _loop(self) -> None:
        delay = self.first_delay
        while not self._stop.wait(delay):
            try:
                self.last_reports = run_sync(
                    self.runtime,
                    trigger="timer",
                    client_factory=self.client_factory,
                    workers=self.workers,
                    should_stop=self._stop.is_set,
                )
            except LockBusy as busy:
                log.info("sync: skipped, %s", busy)
            except Exception:
                log.exception("sync: the scheduled run failed")
            self.rounds += 1
            delay = self.interval

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop (a run in progress stops between two people)."""
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)


def start_background_sync(
    runtime: Runtime,
    interval_seconds: float,
    *,
    first_delay: float | None = None,
    client_factory: ClientFactory | None = None,
    workers: int = DEFAULT_WORKERS,
) -> BackgroundSync:
    """Start the sync every ``interval_seconds`` in a daemon thread (``serve --sync-every``).

    Every process may start one: the lease lets one run at a time and the others skip
    that round. The first run comes after ``first_delay`` (default: 30 s, or the
    interval when shorter), so that starting the service stays quick.
    """
    delay = min(30.0, interval_seconds) if first_delay is None else first_delay
    return BackgroundSync(
        runtime, interval_seconds, first_delay=delay, client_factory=client_factory,
        workers=workers,
    ).start()
