"""One way in: every command that reads Intercom or the state is opened here, so that a guard
added once reaches them all.

In this order, before anything else is read or written: the state database, `GET /me` and the
workspace binding (another workspace's token is refused, naming both; the first command of
any kind records it), the learned readings (`learned.py`), the goals' names checked against
the workspace for the commands that scan, and the lease. Stop, metrics and delivery are
wired into what is built as it is built.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from syncer import binding, learned, pipeline
from syncer.absmartly.publisher import Publisher
from syncer.config import Config
from syncer.errors import ConfigError, SyncerError
from syncer.intercom.client import IntercomClient
from syncer.learned import PartsReading
from syncer.metrics import Metrics
from syncer.pipeline import Context
from syncer.retries import INTERCOM, INTERCOM_CHECK
from syncer.store.db import is_postgres, open_store
from syncer.store.store import Store

log = logging.getLogger("syncer.runtime")


@dataclass(frozen=True, slots=True)
class Command:
    """What a command is, as far as opening it goes; the composition derives the rest."""

    name: str
    reads: bool = True  # it reads Intercom: the token is required, a client and a pool opened
    lock: bool = False  # the one writer (sync, run): the database's lock, or the lease
    scratch: bool = False  # a dry run: a throwaway database; the real one is only read
    scans: bool = False  # goal names (tags, ...) are checked against the workspace first
    delivers: bool = False  # a Publisher on the state's outbox
    wait_for_lease: bool = False  # PostgreSQL: the lease is the daemon's to take (standby)
    catch_up: bool = False  # judges past events by the values of the moment it runs


SYNC = Command("sync", lock=True, scans=True, delivers=True, catch_up=True)
DRY_RUN = Command("sync --dry-run", scratch=True, scans=True, catch_up=True)
RUN = Command("run", lock=True, scans=True, delivers=True, wait_for_lease=True)
RUN_ONCE = Command("run --once", lock=True, scans=True, delivers=True)
RESOLVE = Command("outbox resolve")
# An operator's short command beside a running daemon (forget, outbox retry, parked retry
# and drop): no lock, reads nothing of Intercom; with a token at hand, its workspace is
# still checked (or recorded) before a row is written.
OPERATOR = Command("operator", reads=False)


@dataclass
class Opened:
    """What a command works with."""

    store: Store
    context: Context | None  # where the command reads Intercom
    publisher: Publisher | None
    me: dict[str, Any]  # `GET /me` (empty: not asked, or not answered)

    @property
    def ctx(self) -> Context:
        if self.context is None:
            raise AssertionError("this command reads nothing of Intercom")
        return self.context


@contextlib.contextmanager
def open_context(
    config: Config,
    command: Command,
    *,
    stop: threading.Event | None = None,
    metrics: Metrics | None = None,
) -> Iterator[Opened]:
    """Open what `command` needs, guarded as every command is; close it all on the way out."""
    stop = stop if stop is not None else threading.Event()
    with contextlib.ExitStack() as stack:
        real = _open_state(config, command, stack)
        client: IntercomClient | None = None
        me: dict[str, Any] = {}
        if command.reads or config.intercom.token:
            client = IntercomClient(
                config.intercom,
                stop=stop,
                on_answer=metrics.intercom_answer if metrics is not None else None,
                attempts=(INTERCOM if command.reads else INTERCOM_CHECK).attempts,
            )
            stack.callback(client.close)
            me = _bind(real, client, write=not command.scratch, needed=command.reads)
        if command.scratch:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="syncer-dry-"))
            sync = replace(config.sync, database=f"sqlite:///{Path(folder) / 'dry-run.db'}")
            config = replace(config, sync=sync)
            store = open_store(config.sync, lock=False)
            stack.callback(store.close)
        else:
            assert real is not None
            store = real
        ctx = None
        if client is not None and command.reads:
            ctx = _context(config, command, client, store, learned.load(real), stop, metrics)
            stack.callback(ctx.pool.shutdown, cancel_futures=True)
        if command.scans and ctx is not None:
            pipeline.check_workspace_names(ctx)  # a name the workspace lacks: exit 2
        if command.lock and not command.wait_for_lease:
            store.take_lease()  # PostgreSQL, now or never; SQLite locked on opening
        publisher = None
        if command.delivers:
            publisher = Publisher(
                config.absmartly,
                store,
                on_verdict=metrics.verdict if metrics is not None else None,
            )
            stack.callback(publisher.close)
        yield Opened(store=store, context=ctx, publisher=publisher, me=me)


def _open_state(config: Config, command: Command, stack: contextlib.ExitStack) -> Store | None:
    """The state database. PostgreSQL's lease is taken only once the workspace is known to
    be this state's (taking it writes a row); SQLite's lock is a file, taken on opening. A
    dry run reads the real state, if there is one, and writes nothing."""
    if command.scratch:
        try:
            store = open_store(config.sync, writer=False, lock=False)
        except SyncerError:
            return None  # no state yet: nothing bound, nothing learned
    else:
        lock = command.lock and not is_postgres(config.sync.database)
        store = open_store(config.sync, lock=lock)
    stack.callback(store.close)
    return store


def _bind(
    store: Store | None, client: IntercomClient, *, write: bool, needed: bool
) -> dict[str, Any]:
    """`GET /me`, and the state's workspace checked against it (recorded at the first
    command, with `write`). Where the command reads nothing of Intercom (`needed` False), an
    Intercom that cannot be reached only leaves the check undone: nothing of another
    workspace can reach the state through such a command."""
    try:
        me = client.me()
    except SyncerError as exc:
        if needed or isinstance(exc, ConfigError):
            raise
        log.warning("the workspace was not checked (%s); going on", exc)
        return {}
    if store is not None:
        binding.bind(store, me, write=write)
    return me


def _context(
    config: Config,
    command: Command,
    client: IntercomClient,
    store: Store,
    readings: learned.Readings,
    stop: threading.Event,
    metrics: Metrics | None,
) -> Context:
    """The pipeline's context, starting from what the workspace taught earlier commands; what
    this one learns is kept for the next (a dry run keeps nothing)."""
    keep = None if command.scratch else (lambda reading: learned.keep_parts(store, reading))
    return Context(
        config=config,
        client=client,
        store=store,
        pool=ThreadPoolExecutor(
            max_workers=config.intercom.concurrency, thread_name_prefix="intercom"
        ),
        stop=stop,
        parts=PartsReading(readings.parts, confirmed=readings.confirmed, on_change=keep),
        unsearched=readings.unsearched,
        started=time.time() if command.catch_up else None,
        on_new=metrics.found if metrics is not None else None,
    )
