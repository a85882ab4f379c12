"""Opening what a command needs (database, Intercom client, worker pool) and closing it again."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from syncer.config import Config
from syncer.intercom.client import IntercomClient
from syncer.pipeline import Context
from syncer.store.db import open_store


@contextlib.contextmanager
def open_context(config: Config, *, scratch: bool = False, lock: bool = True) -> Iterator[Context]:
    """A sync context; `scratch` uses a throwaway database so the real one is never touched;
    without `lock` it works beside a running daemon (an operator's short command)."""
    with contextlib.ExitStack() as stack:
        if scratch:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="syncer-dry-"))
            sync = replace(config.sync, database=f"sqlite:///{Path(folder) / 'dry-run.db'}")
            config = replace(config, sync=sync)
        store = open_store(config.sync, lock=lock)
        stack.callback(store.close)
        client = IntercomClient(config.intercom)
        stack.callback(client.close)
        pool = ThreadPoolExecutor(
            max_workers=config.intercom.concurrency, thread_name_prefix="intercom"
        )
        stack.callback(pool.shutdown, cancel_futures=True)
        yield Context(config=config, client=client, store=store, pool=pool)
