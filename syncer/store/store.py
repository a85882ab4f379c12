"""The state database behind one interface: the rest of the syncer says what to record, the
store owns the transactions, the SQL dialect and, on PostgreSQL, the lease that fences every
write of the active instance.

The modules beside this one (`outbox`, `state`, `parking`) hold the statements; only this
class opens a transaction.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, select

from syncer.errors import StateError
from syncer.store import lease, outbox, parking, state, tables
from syncer.store.outbox import Goal
from syncer.store.parking import Parked
from syncer.store.state import Cursor, Progress


class Fence(Protocol):
    """Checks, inside a writing transaction, that this instance may still write."""

    def check(self, conn: Connection) -> None: ...

    def close(self) -> None: ...


READ_ONLY = "syncer_read_only"  # an execution option: this connection only reads (see db.py)


class Store:
    def __init__(self, engine: Engine, where: str, fence: Fence | None = None) -> None:
        self.engine = engine
        self.where = where  # what `status` calls it: a file, or a server and database
        self.fence = fence
        # SQLite has one writer at a time: this process's threads take turns here, in
        # order, rather than in SQLite's busy handler, which favours none and gives up.
        self._turn = threading.RLock() if engine.dialect.name == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()
        if self.fence is not None:
            self.fence.close()
            self.fence = None

    # -- the lease (PostgreSQL) ------------------------------------------------------------

    def holder(self) -> str | None:
        """Who holds the lease now (PostgreSQL), or None: nobody, or SQLite, whose single
        writer is a file lock taken when the database is opened."""
        return lease.holder(self.engine) if self.dialect == "postgresql" else None

    def take_lease(
        self,
        *,
        stop: threading.Event | None = None,
        on_wait: Callable[[str | None], None] | None = None,
        every: float = lease.RETRY_SECONDS,
    ) -> bool:
        """Become the one writer (PostgreSQL; SQLite took its lock on opening). Without
        `stop`: now, or a StateError naming the holder. With it: stand by, telling `on_wait`
        who holds it, until it is free (True) or `stop` is set (False)."""
        if self.dialect != "postgresql" or self.fence is not None:
            return True
        taken = lease.PgLease(self.engine)
        if stop is None:
            if not taken.try_acquire():
                taken.close()
                active = lease.holder(self.engine, taken.key) or "another instance"
                raise StateError(
                    f"{self.where}: another syncer is active on this database ({active}); "
                    "stop it first"
                )
        elif not lease.wait_for(taken, stop, on_wait or (lambda _: None), every=every):
            taken.close()
            return False
        self.fence = taken
        return True

    @property
    def lease_holder(self) -> str | None:
        """This instance's name in the lease, once it holds it."""
        return self.fence.holder if isinstance(self.fence, lease.PgLease) else None

    @contextlib.contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._turn or contextlib.nullcontext(), self.engine.begin() as conn:
            if self.fence is not None:
                self.fence.check(conn)
            yield conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            yield conn

    # -- cursors -----------------------------------------------------------------------------

    def cursor(self, name: str) -> Cursor | None:
        with self._read() as conn:
            return state.get_cursor(conn, name)

    def cursors(self) -> list[Cursor]:
        with self._read() as conn:
            return state.all_cursors(conn)

    def start_cursor(self, name: str, floor: int) -> Cursor:
        """The cursor, created just before `floor` if it is new."""
        with self._write() as conn:
            cursor = state.get_cursor(conn, name)
            if cursor is None:
                state.put_cursor(conn, name, floor - 1, floor)
                cursor = state.get_cursor(conn, name)
            assert cursor is not None
            return cursor

    def move_cursor(self, name: str, value: int, floor: int) -> None:
        with self._write() as conn:
            state.put_cursor(conn, name, value, floor)

    def finish_catchup(
        self, catchup: str, live: str, since: int, until: int, *, hand_over: bool
    ) -> None:
        """Drop a catch-up's cursor; with `hand_over`, carry the live cursor forward to
        `until` where the two meet (or create it there), never back."""
        with self._write() as conn:
            state.drop_cursor(conn, catchup)
            if not hand_over:
                return
            current = state.get_cursor(conn, live)
            if current is None:
                state.put_cursor(conn, live, until, since)
            elif since - 1 <= current.last_value < until:
                state.put_cursor(conn, live, until, min(current.floor, since))

    # -- what a page stores ------------------------------------------------------------------

    def progress(self, conversation_ids: Iterable[str]) -> dict[str, Progress]:
        with self._read() as conn:
            return state.get_progress(conn, conversation_ids)

    def store_page(
        self,
        goals: Sequence[Goal],
        progress: Mapping[str, Progress],
        unpark: tuple[str, str] | None = None,
    ) -> list[Goal]:
        """A page's new goals, its per-conversation progress and the parked object it
        settles, in one transaction; returns the goals whose key was new."""
        with self._write() as conn:
            new = outbox.insert_new(conn, goals)
            state.put_progress(conn, progress)
            if unpark is not None:
                parking.unpark(conn, *unpark)
        return new

    # -- contacts and companies --------------------------------------------------------------

    def cached(self, kind: str, ids: Iterable[str], max_age: float) -> dict[str, Any]:
        with self._read() as conn:
            return state.cached(conn, kind, ids, max_age)

    def cache(self, kind: str, objects: Mapping[str, Any], *, unpark: bool = False) -> None:
        """Remember fetched objects (None: Intercom has none); `unpark` settles them."""
        with self._write() as conn:
            state.put_cached(conn, kind, objects)
            if unpark:
                for object_id in objects:
                    parking.unpark(conn, kind, object_id)

    # -- parked and skipped objects ----------------------------------------------------------

    def park(self, kind: str, failed: Mapping[str, tuple[str, str]], lo: int, hi: int) -> None:
        """object id -> (why, the request that failed)."""
        with self._write() as conn:
            for object_id, (why, request) in failed.items():
                parking.park(conn, kind, object_id, lo, hi, why, request)

    def failed_again(self, item: Parked, why: str, now: float) -> None:
        with self._write() as conn:
            parking.failed_again(conn, item, why, now)

    def unpark(self, kind: str, object_id: str) -> None:
        with self._write() as conn:
            parking.unpark(conn, kind, object_id)

    def parked_due(self, now: float, kinds: Sequence[str], limit: int = 500) -> list[Parked]:
        with self._read() as conn:
            return parking.due(conn, now, kinds, limit)

    def parked(self) -> list[Parked]:
        with self._read() as conn:
            return parking.listing(conn)

    def parked_reasons(self) -> list[tuple[str, str, int]]:
        with self._read() as conn:
            return parking.reasons(conn)

    def retry_parked(self, ids: Iterable[str] = ()) -> int:
        with self._write() as conn:
            return parking.make_due(conn, ids)

    def drop_parked(self, ids: Iterable[str]) -> int:
        with self._write() as conn:
            return parking.drop(conn, ids)

    def note_skipped(self, what: str, objects: Mapping[str, str]) -> None:
        with self._write() as conn:
            parking.note_skipped(conn, what, dict(objects), time.time())

    def skipped(self, what: str) -> tuple[int, str | None]:
        with self._read() as conn:
            return parking.skipped_summary(conn, what)

    # -- notes for `status` ------------------------------------------------------------------

    def note(self, key: str, value: Any) -> None:
        with self._write() as conn:
            state.set_note(conn, key, value)

    def notes(self) -> dict[str, Any]:
        with self._read() as conn:
            return state.notes(conn)

    # -- the outbox --------------------------------------------------------------------------

    def due(self, limit: int) -> list[Goal]:
        with self._read() as conn:
            return outbox.due(conn, limit)

    def pending(self) -> int:
        with self._read() as conn:
            return outbox.pending(conn)

    def oldest_pending(self) -> float | None:
        with self._read() as conn:
            return outbox.oldest_pending(conn)

    def counts(self) -> dict[str, int]:
        with self._read() as conn:
            return outbox.counts(conn)

    def reasons(self, status: str, *, by_goal: bool = False) -> list[tuple[str, int]]:
        with self._read() as conn:
            return outbox.reasons(conn, status, by_goal=by_goal)

    def listing(self, statuses: Iterable[str], limit: int) -> list[Any]:
        with self._read() as conn:
            return outbox.listing(conn, statuses, limit)

    def sending(self, ids: Iterable[int]) -> None:
        """Goals about to be sent; raises (before anything is sent) if the write fails."""
        with self._write() as conn:
            outbox.mark_sending(conn, ids, time.time())

    def record_delivery(
        self, sent: Iterable[int], dead: Mapping[int, str], failed: Iterable[int], error: str | None
    ) -> None:
        """One Collector answer's verdict: sent, dead-lettered, or tried and still pending."""
        with self._write() as conn:
            outbox.mark_sent(conn, sent)
            outbox.mark_dead(conn, dead)
            if error is not None:
                outbox.mark_failed(conn, failed, error)

    def retry_dead(self, keys: Sequence[str] = ()) -> int:
        with self._write() as conn:
            return outbox.retry_dead(conn, keys)

    def unattributed(
        self,
        after: int,
        limit: int,
        *,
        since_ms: int | None = None,
        reason: str | None = None,
        statuses: Sequence[str] = (outbox.UNATTRIBUTED,),
    ) -> list[Goal]:
        with self._read() as conn:
            return outbox.unattributed_after(
                conn, after, limit, since_ms=since_ms, reason=reason, statuses=statuses
            )

    # -- retention and erasure ---------------------------------------------------------------

    def prune(
        self,
        sent_before_ms: int,
        unattributed_before_ms: int,
        cache_max_age: float,
        batch: int = 500,
    ) -> dict[str, int]:
        """One small step of retention: the personal data of up to `batch` sent or dead goals
        older than the first time, of unattributed ones older than the second, and stale
        cached contacts; each in its own short transaction, so no writer waits long."""
        done: dict[str, int] = {}
        with self._write() as conn:
            done["sent"] = outbox.prune(
                conn, (outbox.SENT, outbox.DEAD, outbox.FILTERED), sent_before_ms, batch, None
            )
        with self._write() as conn:
            done["unattributed"] = outbox.prune(
                conn,
                (outbox.UNATTRIBUTED,),
                unattributed_before_ms,
                batch,
                "expired: older than the re-resolution horizon (sync.reresolve_days)",
            )
        with self._write() as conn:
            done["cache"] = state.prune_cache(conn, cache_max_age)
        if any(done.values()) and self.dialect == "sqlite":
            # Hand the freed pages back to the file system a little at a time.
            with self._write() as conn:
                conn.exec_driver_sql("PRAGMA incremental_vacuum(1000)")
        return done

    def forget(self, contact_id: str | None, email: str | None) -> tuple[int, set[str]]:
        """Every trace of one contact, by id or email: (goals stripped, the contact ids the
        state held: cached, or named by a goal, the email's included). Nothing found is
        (0, empty): a contact never seen, or already forgotten."""
        wanted = [contact_id] if contact_id else []
        with self._write() as conn:
            held: set[str] = set()
            if wanted:
                held |= set(
                    conn.scalars(
                        select(tables.cache.c.id).where(
                            tables.cache.c.kind == "contact", tables.cache.c.id.in_(wanted)
                        )
                    )
                )
                held |= set(
                    conn.scalars(
                        select(tables.outbox.c.contact_id)
                        .where(tables.outbox.c.contact_id.in_(wanted))
                        .limit(1)
                    )
                )
            ids = state.forget_cached(conn, wanted, email)
            goals = outbox.forget(conn, ids, email)
            return goals, (ids - set(wanted)) | held

    def oldest_personal(self) -> int | None:
        with self._read() as conn:
            return outbox.oldest_personal(conn)

    def size(self) -> int | None:
        """The state's own size in bytes: SQLite's file; on PostgreSQL, the tables of the
        store's schema, not the database, which other workspaces and programs may share."""
        with self._read() as conn:
            if self.dialect == "sqlite":
                pages = conn.exec_driver_sql("PRAGMA page_count").scalar() or 0
                page = conn.exec_driver_sql("PRAGMA page_size").scalar() or 0
                return int(pages) * int(page)
            if self.dialect == "postgresql":
                return state.schema_size(conn)
        return None

    def reresolve(
        self, goals: Iterable[Goal], statuses: Sequence[str] = (outbox.UNATTRIBUTED,)
    ) -> None:
        with self._write() as conn:
            for goal in goals:
                outbox.reresolve(conn, goal, statuses)

    # -- what `status` reads -----------------------------------------------------------------

    def totals_by_goal(self, status: str) -> list[tuple[str, int]]:
        """How many events of a status each goal has, most first (then by name)."""
        with self._read() as conn:
            return outbox.totals_by_goal(conn, status)
