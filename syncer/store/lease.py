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
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text

from syncer import retries
from syncer.errors import LeaseLost

KEY = 0x53594E43  # "SYNC": one lock per workspace schema, so one active syncer per workspace
RETRY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class LeaseKey:
    """The advisory lock of one workspace's schema. The default schema keeps the one-key
    lock of earlier versions (a rolling upgrade still excludes the old instance); a named
    schema takes a two-key lock, KEY and a hash of its name."""

    schema: str = ""

    @classmethod
    def of(cls, engine: Engine) -> LeaseKey:
        """The key of the schema the engine's connections work in (`sync.schema`)."""
        with engine.connect() as conn:
            schema = str(conn.execute(text("SELECT current_schema()")).scalar() or "public")
        return cls("" if schema == "public" else schema)

    @property
    def _args(self) -> dict[str, int]:
        return {"k1": KEY, "k2": zlib.crc32(self.schema.encode()) & 0x7FFFFFFF}

    def sql(self, function: str) -> tuple[str, dict[str, int]]:
        if not self.schema:
            return f"SELECT {function}(:k1)", {"k1": KEY}
        return f"SELECT {function}(:k1, :k2)", self._args

    def holding(self) -> tuple[str, dict[str, int]]:
        """Sessions holding this lock in this database: pg_locks lists every database's
        locks, and a one-key lock sits in `objid` (objsubid 1), a two-key one in `classid`
        and `objid` (objsubid 2)."""
        where = (
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        )
        if not self.schema:
            return where + "AND classid = 0 AND objid = :k1 AND objsubid = 1", {"k1": KEY}
        return where + "AND classid = :k1 AND objid = :k2 AND objsubid = 2", self._args


class PgLease:
    """The advisory-lock lease; a `Fence` for the store once acquired."""

    def __init__(
        self, engine: Engine, holder: str | None = None, key: LeaseKey | None = None
    ) -> None:
        self.engine = engine
        self.key = key or LeaseKey.of(engine)
        self.holder = holder or f"{socket.gethostname()} pid {os.getpid()}"
        self.epoch: int | None = None
        self.pid: int | None = None
        self._conn: Connection | None = None

    def try_acquire(self) -> bool:
        """Take the lease if it is free; True once held."""
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        statement, args = self.key.sql("pg_try_advisory_lock")
        got = conn.execute(text(statement), args).scalar()
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
        statement, args = self.key.holding()
        held = conn.execute(text(statement + " AND pid = :pid"), {**args, "pid": self.pid}).scalar()
        if epoch != self.epoch or not held:
            raise LeaseLost(
                "this syncer lost the lease on the database (another instance took over, "
                "or its lease connection ended); it stops writing"
            )

    def close(self) -> None:
        if self._conn is not None:
            # Unlock first: the server ends a closed session's backend, and frees its locks,
            # only some time after the client has gone, and a standby (or the next
            # `syncer sync`) must find the lease free the moment this one returns. A dead
            # connection has freed it already, hence the suppress.
            # invalidate(): closing alone would hand the session back to the pool.
            with contextlib.suppress(Exception):
                statement, args = self.key.sql("pg_advisory_unlock")
                self._conn.execute(text(statement), args)
            with contextlib.suppress(Exception):
                self._conn.invalidate()
                self._conn.close()
            self._conn = None


def holder(engine: Engine, key: LeaseKey | None = None) -> str | None:
    """Who holds the lease now ("host pid N since ..."), or None if nobody does."""
    statement, args = (key or LeaseKey.of(engine)).holding()
    with engine.connect() as conn:
        held = conn.execute(text(statement), args).scalar()
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
        on_wait(holder(lease.engine, lease.key))
        retries.pause(stop, every)
    return False
