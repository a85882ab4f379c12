"""PostgreSQL: one active instance by lease, every write fenced on it, against a real server."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text

from syncer.errors import LeaseLost, StateError
from syncer.store.db import open_database
from syncer.store.lease import PgLease, holder
from syncer.store.outbox import Goal


def goal(key: str) -> Goal:
    return Goal(key, "ticket_created", "n", 1_795_000_000_000, (("user_id", "u"),), {}, {})


def test_a_second_active_instance_is_refused_naming_the_first(postgres_url: str) -> None:
    """The lease is PostgreSQL's advisory lock: a second locking writer is told who holds it;
    a reader and an operator's command are not refused."""
    first = open_database(postgres_url)
    try:
        with pytest.raises(StateError, match="another syncer is active on this database"):
            open_database(postgres_url)
        reader = open_database(postgres_url, writer=False)
        operator = open_database(postgres_url, lock=False)
        assert "pid" in (holder(reader.engine) or "")
        assert operator.retry_dead() == 0
        reader.close()
        operator.close()
    finally:
        first.close()
    second = open_database(postgres_url)  # the lease is free once the first is gone
    second.close()


def test_an_instance_whose_lease_session_ends_cannot_write_again(postgres_url: str) -> None:
    """The active instance's lease connection is cut (as by a network partition): its very
    next write fails, before and after a standby takes over, and the standby writes."""
    active = open_database(postgres_url)
    standby = open_database(postgres_url, lock=False)
    try:
        active.store_page([goal("before")], {})
        lease = active.fence
        assert isinstance(lease, PgLease)
        with standby.engine.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lease.pid})
            conn.commit()
        gone(standby.engine, lease.pid)
        with pytest.raises(LeaseLost):
            active.store_page([goal("after the cut")], {})
        taker = PgLease(standby.engine)
        assert taker.try_acquire()
        standby.fence = taker
        with pytest.raises(LeaseLost):
            active.move_cursor("ticket_created", 1, 1)
        assert [g.key for g in standby.store_page([goal("by the new active")], {})] == [
            "by the new active"
        ]
        assert standby.counts()["pending"] == 2
    finally:
        active.close()
        standby.close()


def test_a_new_holder_fences_out_the_old_one_by_epoch(postgres_url: str) -> None:
    """Even if the old holder's check of the lock could race, the epoch it holds is stale
    once another instance took the lease: its writes fail."""
    old = open_database(postgres_url)
    try:
        lease = old.fence
        assert isinstance(lease, PgLease)
        with old.engine.begin() as conn:
            conn.execute(text("UPDATE lease SET epoch = epoch + 1"))  # another holder's raise
        with pytest.raises(LeaseLost):
            old.store_page([goal("stale")], {})
        assert old.counts()["pending"] == 0
    finally:
        old.close()


def gone(engine: Engine, pid: int | None, deadline: float = 30.0) -> None:
    """Wait until a terminated backend has exited: pg_terminate_backend only signals it, and
    its locks go with the process, a moment later on a busy machine."""
    ends = time.monotonic() + deadline
    while time.monotonic() < ends:
        with engine.connect() as conn:
            left = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar()
        if not left:
            return
        time.sleep(0.05)
    raise AssertionError(f"backend {pid} still there after {deadline} s")
