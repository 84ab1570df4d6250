"""Database leases: one holder at a time, on SQLite and PostgreSQL, across processes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from integration.db import make_engine
from integration.models import Lock
from integration.ops.locks import Lease, LockBusy, read_lease
from tests.support.database import migrate


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(migrate(database_url))
    yield built
    built.dispose()


def expire(engine: Engine, name: str) -> None:
    """Pretend the holder died long ago."""
    from datetime import UTC, datetime

    with engine.begin() as conn:
        conn.execute(
            update(Lock.__table__)
            .where(Lock.__table__.c.name == name)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )


def test_a_free_lease_is_taken_and_given_back(engine: Engine) -> None:
    lease = Lease(engine, "job", holder="worker-1")
    assert lease.acquire()
    info = read_lease(engine, "job")
    assert info is not None and info.holder == "worker-1" and not info.expired
    lease.release()
    assert read_lease(engine, "job") is None


def test_a_held_lease_refuses_another_holder(engine: Engine) -> None:
    first = Lease(engine, "job", holder="worker-1")
    second = Lease(engine, "job", holder="worker-2")
    assert first.acquire()
    assert not second.acquire()
    # Releasing someone else's lease does nothing.
    second.release()
    assert read_lease(engine, "job").holder == "worker-1"  # type: ignore[union-attr]
    first.release()
    assert second.acquire()


def test_the_holder_may_take_it_again(engine: Engine) -> None:
    lease = Lease(engine, "job", holder="worker-1")
    assert lease.acquire() and lease.acquire()


def test_an_expired_lease_is_taken_over(engine: Engine) -> None:
    dead = Lease(engine, "job", holder="dead-worker")
    assert dead.acquire()
    expire(engine, "job")
    alive = Lease(engine, "job", holder="worker-2")
    assert alive.acquire()
    assert read_lease(engine, "job").holder == "worker-2"  # type: ignore[union-attr]
    # The old holder finds out when it renews, and its release does not free the new one.
    assert not dead.renew()
    assert dead.lost.is_set()
    dead.release()
    assert read_lease(engine, "job").holder == "worker-2"  # type: ignore[union-attr]


def test_renewal_pushes_the_expiry(engine: Engine) -> None:
    lease = Lease(engine, "job", ttl=timedelta(seconds=30))
    assert lease.acquire()
    before = read_lease(engine, "job").expires_at  # type: ignore[union-attr]
    lease.ttl = timedelta(minutes=10)
    assert lease.renew()
    assert read_lease(engine, "job").expires_at > before  # type: ignore[union-attr]


def test_as_a_context_manager_it_refuses_with_who_holds_it(engine: Engine) -> None:
    with Lease(engine, "job", holder="worker-1"):
        with pytest.raises(LockBusy) as busy, Lease(engine, "job", holder="worker-2"):
            pass  # pragma: no cover
        assert busy.value.info is not None and busy.value.info.holder == "worker-1"
        assert "worker-1" in str(busy.value)
    assert read_lease(engine, "job") is None


def test_the_keeper_renews_while_the_job_runs(engine: Engine) -> None:
    lease = Lease(engine, "job", ttl=timedelta(seconds=1.5))
    assert lease.acquire()
    lease.start_keeper(interval=0.2)
    first = read_lease(engine, "job").expires_at  # type: ignore[union-attr]
    deadline = time.monotonic() + 10
    while read_lease(engine, "job").expires_at <= first:  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the keeper never renewed the lease"
        threading.Event().wait(0.1)
    assert lease.held
    lease.release()


def test_many_takers_at_once_exactly_one_wins(engine: Engine) -> None:
    barrier = threading.Barrier(6)
    results: list[bool] = []
    lock = threading.Lock()

    def take(n: int) -> None:
        lease = Lease(engine, "job", holder=f"worker-{n}")
        barrier.wait()
        won = lease.acquire()
        with lock:
            results.append(won)

    threads = [threading.Thread(target=take, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results.count(True) == 1


def test_many_takers_of_an_expired_lease_exactly_one_wins(engine: Engine) -> None:
    assert Lease(engine, "job", holder="dead").acquire()
    expire(engine, "job")
    barrier = threading.Barrier(6)
    results: list[bool] = []
    lock = threading.Lock()

    def take(n: int) -> None:
        lease = Lease(engine, "job", holder=f"worker-{n}")
        barrier.wait()
        won = lease.acquire()
        with lock:
            results.append(won)

    threads = [threading.Thread(target=take, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results.count(True) == 1


def test_waiting_gets_the_lease_once_it_is_released(engine: Engine) -> None:
    first = Lease(engine, "job", holder="worker-1")
    assert first.acquire()
    threading.Timer(0.3, first.release).start()
    second = Lease(engine, "job", holder="worker-2")
    assert second.acquire_waiting(10, poll_seconds=0.1)
    assert not Lease(engine, "job").acquire_waiting(0.2, poll_seconds=0.1)
