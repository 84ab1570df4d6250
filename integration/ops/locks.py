"""Named leases in the database, so that two runs of a job never overlap, on any machine.

A lease is one row of the ``lock`` table: its name, who holds it and until when.
Taking it is one statement in its own short transaction: ``INSERT`` the row, or, when
the row exists, ``UPDATE`` it where it has expired (or is already ours). Both are atomic
on SQLite (``BEGIN IMMEDIATE`` serialises writers) and on PostgreSQL (the primary key
and the row lock), so of two takers exactly one wins. The holder renews the lease
before it expires and deletes the row at the end; a holder that died leaves a row that
the next taker takes over once it has expired.

Expiry compares clocks of different machines: keep them in sync (NTP) and the lease
long compared with their drift.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ..db import Base
from ..models import Lock

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(minutes=5)
_table = Base.metadata.tables[Lock.__tablename__]


def _utcnow() -> datetime:
    # Always UTC: SQLite keeps the wall time only, and string order is time order in UTC.
    return datetime.now(UTC)


def default_holder() -> str:
    """Who we are, readable by an operator: host, process, thread and a random part."""
    return (
        f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}:"
        f"{uuid.uuid4().hex[:8]}"
    )[:200]


@dataclass(frozen=True)
class LeaseInfo:
    """A lease as stored."""

    name: str
    holder: str
    expires_at: datetime

    @property
    def expired(self) -> bool:
        return self.expires_at <= _utcnow()


class LockBusy(Exception):
    """Another holder has the lease; ``info`` says who and until when (if known)."""

    def __init__(self, name: str, info: LeaseInfo | None) -> None:
        self.name = name
        self.info = info
        if info is None:
            text = f"the lock {name!r} is held by someone else"
        else:
            text = (
                f"the lock {name!r} is held by {info.holder} "
                f"until {info.expires_at.isoformat(timespec='seconds')}"
            )
        super().__init__(text)


def read_lease(engine: Engine, name: str) -> LeaseInfo | None:
    """The stored lease of this name, expired or not; None when nobody holds it."""
    with engine.connect() as conn:
        row = conn.execute(
            select(_table.c.name, _table.c.holder, _table.c.expires_at).where(
                _table.c.name == name
            )
        ).first()
    if row is None:
        return None
    expires_at = row.expires_at
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    return LeaseInfo(row.name, row.holder, expires_at)


class Lease:
    """One named lease, for one holder.

    Use as a context manager (raises :class:`LockBusy` when taken) or call
    :meth:`acquire`, :meth:`renew` and :meth:`release` yourself. As a context manager
    a thread renews it every third of its duration; ``lost`` is set if a renewal finds
    the lease taken by someone else, and long jobs should stop when it is.
    """

    def __init__(
        self,
        engine: Engine,
        name: str,
        *,
        ttl: timedelta = DEFAULT_TTL,
        holder: str | None = None,
    ) -> None:
        if ttl <= timedelta(0):
            raise ValueError("a lease must last some time")
        self.engine = engine
        self.name = name
        self.ttl = ttl
        self.holder = holder or default_holder()
        self.lost = threading.Event()
        self._held = False
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<Lease {self.name!r} holder={self.holder!r} held={self._held}>"

    @property
    def held(self) -> bool:
        return self._held and not self.lost.is_set()

    # ------------------------------------------------------------ the three statements

    def acquire(self) -> bool:
        """Take the lease if it is free, expired or already ours. Never waits."""
        now = _utcnow()
        expires_at = now + self.ttl
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(_table).values(
                        name=self.name, holder=self.holder, expires_at=expires_at
                    )
                )
        except IntegrityError:
            # The row exists: take it over only if it has expired (or is ours).
            with self.engine.begin() as conn:
                result = conn.execute(
                    update(_table)
                    .where(
                        _table.c.name == self.name,
                        or_(_table.c.expires_at < now, _table.c.holder == self.holder),
                    )
                    .values(holder=self.holder, expires_at=expires_at)
                )
            if result.rowcount != 1:
                return False
            log.info("lock %s taken over from an expired holder", self.name)
        self._held = True
        self.lost.clear()
        return True

    def acquire_waiting(self, wait_seconds: float, *, poll_seconds: float = 1.0) -> bool:
        """Like :meth:`acquire`, trying again until ``wait_seconds`` have passed."""
        deadline = time.monotonic() + max(0.0, wait_seconds)
        while True:
            if self.acquire():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(poll_seconds, left))

    def renew(self) -> bool:
        """Push the expiry forward. False (and ``lost`` set) when the lease is not ours."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(_table)
                .where(_table.c.name == self.name, _table.c.holder == self.holder)
                .values(expires_at=_utcnow() + self.ttl)
            )
        if result.rowcount != 1:
            self.lost.set()
            log.warning("lock %s: lease lost (taken over or removed)", self.name)
            return False
        return True

    def release(self) -> None:
        """Give the lease back (only if it is still ours)."""
        self._stop_keeper()
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    delete(_table).where(
                        _table.c.name == self.name, _table.c.holder == self.holder
                    )
                )
        finally:
            self._held = False

    # ------------------------------------------------------------ keeping it

    def start_keeper(self, interval: float | None = None) -> None:
        """Renew the lease from a daemon thread until :meth:`release`."""
        if self._keeper is not None:
            return
        every = interval if interval is not None else self.ttl.total_seconds() / 3
        self._stop.clear()
        self._keeper = threading.Thread(
            target=self._keep, args=(every,), name=f"lease-{self.name}", daemon=True
        )
        self._keeper.start()

    def _keep(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                if not self.renew():
                    return
            except Exception:  # a database hiccup: try again at the next tick
                log.exception("lock %s: renewal failed, trying again", self.name)

    def _stop_keeper(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            self._stop.set()
            keeper.join(timeout=10)

    def __enter__(self) -> Lease:
        if not self.acquire():
            raise LockBusy(self.name, read_lease(self.engine, self.name))
        self.start_keeper()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
