"""Objects fetched by id, one at a time in the pool, where one whose request keeps failing
is parked (see `store/parking.py`) and the rest go on without it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from syncer.detect import Window
from syncer.errors import IntercomObjectError
from syncer.pipeline.context import Context, ScanStats

log = logging.getLogger("syncer.pipeline")


def attempt(fetch: Callable[[str], Any]) -> Callable[[str], Any]:
    """`fetch`, with a failed object's error returned rather than raised (for pool.map)."""

    def attempt(object_id: str) -> Any:
        try:
            return fetch(object_id)
        except IntercomObjectError as exc:
            return exc

    return attempt


def fetch_each(
    ctx: Context, ids: Sequence[str], fetch: Callable[[str], Any]
) -> tuple[dict[str, Any], dict[str, IntercomObjectError]]:
    """(id -> what `fetch` gave, None where Intercom has none; id -> why its fetch failed),
    each id fetched once, in the pool."""
    results = dict(zip(ids, ctx.pool.map(attempt(fetch), ids), strict=True))
    failed = {i: r for i, r in results.items() if isinstance(r, IntercomObjectError)}
    return {i: r for i, r in results.items() if i not in failed}, failed


def park(
    ctx: Context,
    kind: str,
    failed: Mapping[str, IntercomObjectError],
    window: Window,
    stats: ScanStats | None = None,
) -> None:
    """Park the objects whose fetch failed, to be retried each cycle."""
    if not failed:
        return
    reasons = {object_id: (str(exc), exc.request) for object_id, exc in failed.items()}
    ctx.store.park(kind, reasons, window.lo, window.hi)
    if stats is not None:
        stats.parked += len(failed)
    log.warning(
        "parked %d %ss whose requests keep failing (%s); they are retried each cycle",
        len(failed),
        kind,
        next(iter(failed.values())),
    )
