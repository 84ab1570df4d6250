"""Moodle clients for a run, and a few requests in flight while the database stays in one thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Generic, TypeVar

import requests

from connectors.moodle import (
    MoodleClient,
)
from connectors.outbound import OutboundSession

from .connection import (
    ClientFactory,
    default_client_factory,
)

T = TypeVar("T")
R = TypeVar("R")
# --------------------------------------------------------------------------- Moodle clients


class _Clients:
    """One Moodle client per thread for one platform, counting the HTTP answers."""

    def __init__(self, url: str, token: str, factory: ClientFactory | None) -> None:
        self._url = url
        self._token = token
        self._factory = factory or default_client_factory
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []
        self.calls = 0

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            self.calls += 1

    def get(self) -> MoodleClient:
        client: MoodleClient | None = getattr(self._local, "client", None)
        if client is None:
            http = OutboundSession()  # the outbound policy: REPERES_OUTBOUND_ALLOW
            http.hooks["response"].append(self._count)
            client = self._factory(self._url, self._token, http)
            self._local.client = client
            with self._lock:
                self._sessions.append(http)
        return client

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for http in sessions:
            http.close()


class _InFlight(Generic[T, R]):
    """Run ``fn`` on the pool with at most ``window`` calls pending; iterate to get
    ``(item, result or exception)`` as each finishes. The first calls leave at once, so
    the caller can read the database while Moodle answers."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        fn: Callable[[T], R],
        items: Iterable[T],
        window: int,
        stop: Callable[[], bool],
    ) -> None:
        self._pool = pool
        self._fn = fn
        self._source = iter(items)
        self._window = max(1, window)
        self._stop = stop
        self._pending: dict[Future[R], T] = {}
        self._fill()

    def _fill(self) -> None:
        while len(self._pending) < self._window and not self._stop():
            try:
                item = next(self._source)
            except StopIteration:
                return
            self._pending[self._pool.submit(self._fn, item)] = item

    def __iter__(self) -> Iterator[tuple[T, R | BaseException]]:
        try:
            while self._pending:
                done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
                for future in done:
                    item = self._pending.pop(future)
                    error = future.exception()
                    yield item, (error if error is not None else future.result())
                self._fill()
        finally:
            self.cancel()

    def cancel(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()


