"""Scans: walk one Intercom search over a window, slice by slice, yielding pages and checkpoints.

The caller stores each page's events, and moves its cursor only at a `Checkpoint`, which comes
after the last page of a slice. A crash therefore loses at most one slice of reading, and never
an event: the slice is read again and the outbox keeps one row per event key.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from syncer.errors import ScanIncomplete, ShortSlice, SliceRestart
from syncer.intercom.client import SearchPage
from syncer.timeparse import DAY

log = logging.getLogger("syncer.scan")

# A slice whose search reports more items than this is halved before it is walked: a long
# walk over Intercom's stateless `starting_after` is the likeliest to shift under our feet,
# and a crash re-reads at most one slice. A slice with under a quarter of it doubles the
# next one, so a sparse year costs a dozen searches, not 365.
MAX_SLICE_ITEMS = 15_000
MAX_SLICE_SECONDS = 366 * DAY
# A one-second slice whose pages keep holding fewer distinct items than the search counts
# is read this many times in all, then taken as it is, with a warning: what the search will
# not hand out cannot be read by waiting, and a scan stuck on one second would stop every
# later event (the reconciliation pass reads that second again later).
SHORT_READS = 3


@dataclass(frozen=True, slots=True)
class ScanSpec:
    """What one event kind searches: the resource, the field that defines the event, filters."""

    resource: str  # "conversations" | "tickets"
    field: str
    filters: tuple[Mapping[str, Any], ...] = ()
    # Filters of the same form the search could not be trusted with (a probe found them
    # not matching as documented): applied to each item the search answers instead.
    checked: tuple[Mapping[str, Any], ...] = ()

    def unsearched(self, fields: frozenset[str]) -> ScanSpec:
        """This spec with its filters on `fields` moved from the search to the items."""
        moved = tuple(f for f in self.filters if f["field"] in fields)
        kept = tuple(f for f in self.filters if f["field"] not in fields)
        return ScanSpec(self.resource, self.field, kept, self.checked + moved)


def matches(item: Mapping[str, Any], condition: Mapping[str, Any]) -> bool:
    """Whether an item holds a search filter (`=`, `!=`, `IN`, `NIN` on a dotted field), as
    Intercom's search would match it."""
    value: Any = item
    for part in str(condition["field"]).split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    wanted = condition["value"]
    match condition["operator"]:
        case "=":
            return bool(value == wanted)
        case "!=":
            return bool(value != wanted)
        case "IN":
            return value in wanted
        case "NIN":
            return value not in wanted
    raise ValueError(f"no item check for the search operator {condition['operator']!r}")


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    value: int  # every item whose field is <= value was yielded


class Searcher(Protocol):
    def search(
        self, resource: str, query: Mapping[str, Any], starting_after: str | None = None
    ) -> SearchPage: ...


def window_query(spec: ScanSpec, lo: int, hi: int) -> dict[str, Any]:
    """An AND of single filters that finds every item whose `field` is in [lo, hi].

    Intercom documents `>` and `<` as "greater (or equal)" and "lower (or equal)", while its
    ticket search page speaks of `>=`/`<=`: the bounds reach a second further on each side,
    so [lo, hi] is covered whether or not the operators include their boundary, and slices
    that meet at `end + 1` overlap. The extra item a second out is harmless: detection keeps
    events by their own time and the outbox keeps one row per key.

    The 2.14 schema cannot mix single filters and nested groups in one `value` list, so the
    extra filters are single filters too.
    """
    return {
        "operator": "AND",
        "value": [
            {"field": spec.field, "operator": ">", "value": lo - 1},
            {"field": spec.field, "operator": "<", "value": hi + 1},
            *(dict(f) for f in spec.filters),
        ],
    }


def scan(
    client: Searcher,
    spec: ScanSpec,
    lo: int,
    hi: int,
    slice_seconds: int,
    *,
    max_items: int = MAX_SLICE_ITEMS,
) -> Iterator[Page | Checkpoint]:
    """Yield the pages of [lo, hi], slice by slice, each slice closed by a checkpoint."""
    with ThreadPoolExecutor(1, thread_name_prefix="search-ahead") as ahead:
        start, length, short = lo, slice_seconds, 0
        while start <= hi:
            end = min(hi, start + length - 1)
            try:
                total = yield from _slice(client, spec, start, end, max_items, ahead)
            except SliceRestart as why:
                if end > start:
                    length = max(1, (end - start + 1) // 2)
                    log.warning("scan %s: %s; reading %ds slices", spec.field, why, length)
                    continue
                if not isinstance(why, ShortSlice):
                    raise ScanIncomplete(
                        f"{spec.resource} search on {spec.field} at {start}: {why}"
                    ) from None
                short += 1
                if short < SHORT_READS:
                    log.warning("scan %s at %d: %s; reading it again", spec.field, start, why)
                    continue
                log.warning(
                    "scan %s at %d: %s, %d times; going on with what it gave "
                    "(the reconciliation pass reads this second again)",
                    spec.field,
                    start,
                    why,
                    short,
                )
                total = why.read
            short = 0
            yield Checkpoint(end)
            start = end + 1
            if total < max_items // 4:
                length = min(MAX_SLICE_SECONDS, length * 2)


def _slice(
    client: Searcher, spec: ScanSpec, lo: int, hi: int, max_items: int, ahead: Executor
) -> Generator[Page, None, int]:
    """Yield the slice's pages; return how many items the search said it holds. Pages
    that end holding fewer distinct items than that raise ShortSlice: a walk over stateless
    cursors can skip items as well as repeat them, and nothing else would say so.

    The next page is asked for before this one is yielded: its search runs while the
    caller reads the page's conversations, instead of after (one search in flight per scan;
    the order of pages and checkpoints is unchanged)."""
    query = window_query(spec, lo, hi)
    page = client.search(spec.resource, query)
    counted = page.total
    total = counted if counted is not None else len(page.items)
    if total > max_items and hi > lo:
        raise SliceRestart(f"{total} items in one slice")
    tokens: set[str] = set()
    ids: set[str] = set()
    pages_allowed = total // max(1, len(page.items) or 1) + 3
    while True:
        page_ids = {str(item.get("id")) for item in page.items}
        if page_ids and page_ids <= ids:
            # Stateless cursors cycle (A -> B -> A) when items change mid-walk, and a token
            # need not repeat when they do: a page of nothing new is the same sign.
            raise SliceRestart("a page of items already read came back")
        ids |= page_ids
        restart, following = None, None
        if page.next in tokens:
            restart = f"starting_after {page.next[:16]!r} came back"
        elif page.next is not None:
            tokens.add(page.next)
            pages_allowed -= 1
            if pages_allowed <= 0:
                restart = f"more pages than {total} items can fill"
            else:
                following = ahead.submit(client.search, spec.resource, query, page.next)
        yield Page([i for i in page.items if all(matches(i, f) for f in spec.checked)])
        if restart is not None:
            raise SliceRestart(restart)
        if following is None:
            if counted is not None and len(ids) < counted:
                raise ShortSlice(len(ids), counted)
            return total
        page = following.result()
