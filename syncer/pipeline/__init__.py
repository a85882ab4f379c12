"""Scan → detect → resolve units → outbox: the reading half of a sync, for the daemon and catch-up.

One page's new events and its per-conversation progress are committed in one transaction;
a cursor moves only at a checkpoint, after every page of its slice was committed. An object
whose request keeps failing is parked (see `store/parking.py`) and the page goes on without
it; a scan that fails stops only itself, never the other scans or delivery.

- `context`: what a sync reads with, where each scan reads (its plan), what it found.
- `scanning`: the scans, page by page into the outbox; webhook-hinted objects.
- `conversations`: which conversations to fetch whole, and the progress each read makes.
- `lookups`: contacts, companies, segments and tags, cached; a batch's typed needs.
- `goals`: events as goal events: units, properties, filters.
- `fetching`: objects fetched by id, a failing one parked.
"""

from syncer.pipeline.context import (
    Context,
    Plan,
    ScanStats,
    catchup_plan,
    finish_catchup,
    live_plan,
    reconcile_plan,
    record_error,
)
from syncer.pipeline.conversations import moved, seen_fields
from syncer.pipeline.goals import LOOKUP_FAILED, resolve_pairs
from syncer.pipeline.lookups import LOOKUPS, check_workspace_names, fetchers
from syncer.pipeline.scanning import guarded, read_hinted, run_scan, run_scans, store_objects

__all__ = [
    "LOOKUPS",
    "LOOKUP_FAILED",
    "Context",
    "Plan",
    "ScanStats",
    "catchup_plan",
    "check_workspace_names",
    "fetchers",
    "finish_catchup",
    "guarded",
    "live_plan",
    "moved",
    "read_hinted",
    "reconcile_plan",
    "record_error",
    "resolve_pairs",
    "run_scan",
    "run_scans",
    "seen_fields",
    "store_objects",
]
