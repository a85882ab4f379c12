"""One active syncer per PostgreSQL database: a lease, and a fence on every write.

The lease is PostgreSQL's own session-level advisory lock, held on a dedicated connection
with TCP keepalives: if the holder dies or its network goes, PostgreSQL ends the session
and the lock with it. Whoever takes the lock raises an epoch in the `lease` table. Every
writing transaction of the holder first checks, under a share lock on that row, that the
epoch is still its own and that its lease session still holds the lock. A new holder's raise
waits for the old holder's open transactions and makes every later one fail, so an instance
that lost the lease (killed, partitioned, its session terminated) cannot write again.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, text

from syncer.errors import StateError

KEY = 0x53594E43  # "SYNC": one lock per database, so one active syncer per database
RETRY_SECONDS = 5.0
# Sessions holding the lease's lock in this database (an advisory lock on a small key sits
# in `objid`; pg_locks lists every database's locks, and another database's syncer is not ours).
HOLDING = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = :key "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


class LeaseLost(StateError):
    """This instance no longer holds the lease: another took over, or its session ended."""


class PgLease:
    """The advisory-lock lease; a `Fence` for the store once acquired."""

    def __init__(self, engine: Engine, holder: str | None = None) -> None:
        self.engine = engine
        self.holder = holder or f"{socket.gethostname()} pid {os.getpid()}"
        self.epoch: int | None = None
        self.pid: int | None = None
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        """Take the lease if it is free; True once held."""
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": KEY}).scalar()
        if not got:
            conn.close()
            return False
        self._conn = conn
        self.pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        with self.engine.begin() as tx:
            # Waits for the old holder's fenced transactions (they hold the row in share
            # mode), then makes every later one of theirs fail the epoch check.
            self.epoch = int(
                tx.execute(
                    text(
                        "INSERT INTO lease (id, epoch, holder, since) VALUES (1, 1, :h, :t) "
                        "ON CONFLICT (id) DO UPDATE SET epoch = lease.epoch + 1, "
                        "holder = excluded.holder, since = excluded.since RETURNING epoch"
                    ),
                    {"h": self.holder, "t": time.time()},
                ).scalar_one()
            )
        return True

    def check(self, conn: Connection) -> None:
        """Inside a writing transaction: raise LeaseLost unless this instance still holds it."""
        epoch = conn.execute(text("SELECT epoch FROM lease WHERE id = 1 FOR SHARE")).scalar()
        held = conn.execute(
            text(HOLDING + " AND pid = :pid"), {"pid": self.pid, "key": KEY}
        ).scalar()
        if epoch != self.epoch or not held:
            raise LeaseLost(
                "this syncer lost the lease on the database (another instance took over, "
                "or its lease connection ended); it stops writing"
            )

    def close(self) -> None:
        if self._conn is not None:
            # Ending the session frees the lock (a dead connection has freed it already).
            # invalidate(): closing alone would hand the session, lock and all, to the pool.
            with contextlib.suppress(Exception):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None


def holder(engine: Engine) -> str | None:
    """Who holds the lease now ("host pid N since ..."), or None if nobody does."""
    with engine.connect() as conn:
        held = conn.execute(text(HOLDING), {"key": KEY}).scalar()
        row = conn.execute(text("SELECT holder, since FROM lease WHERE id = 1")).first()
    if not held or row is None:
        return None
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(row.since))
    return f"{row.holder} since {since}"


def wait_for(
    lease: PgLease,
    stop: threading.Event,
    on_wait: Callable[[str | None], None],
    every: float = RETRY_SECONDS,
) -> bool:
    """Try the lease every few seconds until it is held (True) or `stop` is set (False)."""
    while not stop.is_set():
        if lease.try_acquire():
            return True
        on_wait(holder(lease.engine))
        stop.wait(every)
    return False
