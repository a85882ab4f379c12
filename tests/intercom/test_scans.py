"""Scans over a stub searcher: slicing, checkpoints, halving, the repeated-token guard."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest

from syncer.errors import ScanIncomplete
from syncer.intercom.client import SearchPage
from syncer.intercom.scans import Checkpoint, Page, ScanSpec, matches, scan, window_query

SPEC = ScanSpec("conversations", "created_at")


class Stub:
    """Serves items by `created_at`, `per_page` at a time; optionally cycles its tokens.

    `>` and `<` are strict here unless `inclusive`; `queries` records the seconds each search
    covers under that reading.
    """

    def __init__(
        self, times: list[int], per_page: int = 2, cycle: bool = False, inclusive: bool = False
    ) -> None:
        self.times, self.per_page, self.cycle = times, per_page, cycle
        self.inclusive = inclusive
        self.queries: list[tuple[int, int, str | None]] = []

    def search(
        self, resource: str, query: Mapping[str, Any], starting_after: str | None = None
    ) -> SearchPage:
        lo, hi = query["value"][0]["value"], query["value"][1]["value"]
        if not self.inclusive:
            lo, hi = lo + 1, hi - 1
        self.queries.append((lo, hi, starting_after))
        hits = [t for t in self.times if lo <= t <= hi]
        offset = int(starting_after or 0)
        if self.cycle and offset >= 2 * self.per_page:
            offset = 0
        chunk = hits[offset : offset + self.per_page]
        more = offset + self.per_page < len(hits)
        nxt = str(offset + self.per_page) if more else None
        if self.cycle and more:
            nxt = str((offset + self.per_page) % (2 * self.per_page))
        return SearchPage([{"id": str(t), "created_at": t} for t in chunk], nxt, len(hits))


def test_window_query_reaches_a_second_past_each_bound_and_is_of_single_filters() -> None:
    """[lo, hi] becomes an AND of `>` lo - 1 and `<` hi + 1: whole whether Intercom's
    operators include their boundary or not."""
    assert window_query(SPEC, 10, 20) == {
        "operator": "AND",
        "value": [
            {"field": "created_at", "operator": ">", "value": 9},
            {"field": "created_at", "operator": "<", "value": 21},
        ],
    }


def test_slices_tile_the_window_without_gap_when_operators_are_strict() -> None:
    """Read with strict operators, each slice covers from one second after the last ended,
    every item once; a checkpoint closes each slice."""
    stub = Stub([0, 5, 10, 15, 29, 75])
    steps = list(scan(stub, SPEC, 0, 79, slice_seconds=10))
    slices = [(lo, hi) for lo, hi, token in stub.queries if token is None]
    assert slices[0][0] == 0 and slices[-1][1] == 79
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(slices))
    assert [s.value for s in steps if isinstance(s, Checkpoint)] == [hi for _, hi in slices]
    items = [i["created_at"] for s in steps if isinstance(s, Page) for i in s.items]
    assert sorted(items) == [0, 5, 10, 15, 29, 75]


def test_slices_overlap_a_second_when_operators_are_inclusive() -> None:
    """Read with inclusive operators, slices overlap at their edges: an item on a slice's
    last second is read by both slices, never by none."""
    edges = [0, 9, 10, 19, 20, 79]
    stub = Stub(edges, inclusive=True)
    steps = list(scan(stub, SPEC, 0, 79, slice_seconds=10))
    items = [i["created_at"] for s in steps if isinstance(s, Page) for i in s.items]
    assert set(items) == set(edges)
    assert len(items) > len(edges)


def test_sparse_slices_grow_so_long_windows_cost_few_searches() -> None:
    """A nearly empty year in 1-day slices takes a dozen searches, not 365."""
    stub = Stub([100, 200_000])
    list(scan(stub, SPEC, 0, 365 * 86_400, slice_seconds=86_400))
    assert len(stub.queries) <= 12


def test_checkpoint_comes_after_the_slice_last_page() -> None:
    """No checkpoint until every page of its slice was yielded."""
    stub = Stub([1, 2, 3, 4, 5])
    steps = list(scan(stub, SPEC, 0, 9, slice_seconds=10))
    kinds = [type(s).__name__ for s in steps]
    assert kinds == ["Page", "Page", "Page", "Checkpoint"]


def test_slice_with_too_many_items_is_halved() -> None:
    """A slice over the item limit is read again as halves; nothing is skipped."""
    stub = Stub(list(range(0, 40)), per_page=50)
    steps = list(scan(stub, SPEC, 0, 39, slice_seconds=40, max_items=25))
    items = [i["created_at"] for s in steps if isinstance(s, Page) for i in s.items]
    assert sorted(items) == list(range(40))
    assert [s.value for s in steps if isinstance(s, Checkpoint)] == [19, 39]


def test_repeated_starting_after_rereads_the_slice_in_halves() -> None:
    """A token seen twice ends the slice; halves small enough not to cycle read everything."""
    stub = Stub(list(range(10)), per_page=2, cycle=True)
    steps = list(scan(stub, SPEC, 0, 9, slice_seconds=10))
    items = {i["created_at"] for s in steps if isinstance(s, Page) for i in s.items}
    assert items == set(range(10))
    assert [s.value for s in steps if isinstance(s, Checkpoint)][-1] == 9


def test_cycle_in_one_second_slice_never_checkpoints() -> None:
    """When even a 1-second slice cycles, the scan fails without moving past it."""
    stub = Stub([5] * 10, per_page=2, cycle=True)
    seen: list[object] = []
    with pytest.raises(ScanIncomplete, match="came back"):
        seen.extend(scan(stub, SPEC, 5, 5, slice_seconds=1))
    assert stub.queries, "the slice was read"
    assert not any(isinstance(step, Checkpoint) for step in seen)


ITEM = {"id": "1", "source": {"type": "email", "delivered_as": "customer_initiated"}}


@pytest.mark.parametrize(
    ("operator", "value", "held"),
    [
        ("=", "email", True),
        ("=", "push", False),
        ("!=", "push", True),
        ("!=", "email", False),
        ("IN", ["push", "email"], True),
        ("IN", ["push"], False),
        ("NIN", ["push"], True),
        ("NIN", ["email", "push"], False),
    ],
)
def test_an_unsearched_filter_is_held_on_each_item_as_the_search_would(
    operator: str, value: object, held: bool
) -> None:
    """A filter moved out of the search keeps the items that hold it, and the search
    keeps its other filters; an item without the field holds only `!=` and `NIN`."""
    condition = {"field": "source.type", "operator": operator, "value": value}
    other = {"field": "source.delivered_as", "operator": "=", "value": "customer_initiated"}
    spec = ScanSpec("conversations", "created_at", (condition, other)).unsearched(
        frozenset({"source.type"})
    )
    assert spec.filters == (other,) and spec.checked == (condition,)
    assert matches(ITEM, condition) is held
    assert matches({"id": "2"}, condition) is (operator in ("!=", "NIN"))


def test_a_scan_yields_only_the_items_that_hold_its_unsearched_filters() -> None:
    """The search is sent without the moved filter; the pages hold only matching items."""
    times = [10, 11, 12, 13, 14]

    class Typed(Stub):
        def search(
            self, resource: str, query: Mapping[str, Any], starting_after: str | None = None
        ) -> SearchPage:
            assert all(f["field"] == "created_at" for f in query["value"])
            page = super().search(resource, query, starting_after)
            items = [
                {**i, "source": {"type": "push" if int(i["created_at"]) % 2 else "email"}}
                for i in page.items
            ]
            return SearchPage(items, page.next, page.total)

    condition = {"field": "source.type", "operator": "=", "value": "email"}
    spec = ScanSpec("conversations", "created_at", (condition,)).unsearched(
        frozenset({"source.type"})
    )
    got = [
        i["created_at"]
        for s in scan(Typed(times), spec, 10, 14, 100)
        if isinstance(s, Page)
        for i in s.items
    ]
    assert got == [10, 12, 14]


class Dropping(Stub):
    """Pagination that loses items: over a search wider than `wide` seconds, each later
    page leaves out its first item (as a walk over stateless cursors does when items shift
    beneath it); `ghost` is counted by the search at its second but never handed out."""

    def __init__(self, times: list[int], wide: int, ghost: int | None = None) -> None:
        super().__init__(times, per_page=3)
        self.wide, self.ghost = wide, ghost

    def search(
        self, resource: str, query: Mapping[str, Any], starting_after: str | None = None
    ) -> SearchPage:
        page = super().search(resource, query, starting_after)
        lo, hi = self.queries[-1][:2]
        items = page.items
        if starting_after is not None and hi - lo + 1 > self.wide:
            items = items[1:]
        total = page.total
        if self.ghost is not None and lo <= self.ghost <= hi:
            total = (total or 0) + 1
        return SearchPage(items, page.next, total)


def test_a_slice_read_short_of_its_total_is_halved_and_read_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Fewer distinct items than the search's `total_count`: the slice is read again in
    halves, until slices narrow enough to walk whole give every item; each halving logged."""
    times = list(range(0, 40, 2))
    stub = Dropping(times, wide=5)
    steps = list(scan(stub, SPEC, 0, 39, slice_seconds=40))
    items = {i["created_at"] for s in steps if isinstance(s, Page) for i in s.items}
    assert items == set(times)
    assert [s.value for s in steps if isinstance(s, Checkpoint)][-1] == 39
    assert any("read 14 distinct items of the 20" in r.message for r in caplog.records)


def test_a_second_that_keeps_reading_short_is_read_again_then_passed_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A second whose search counts an item it never hands out is read SHORT_READS times,
    then passed with a warning: every other item is read and the scan goes on."""
    times = [1, 3, 5, 7, 9]
    stub = Dropping(times, wide=100, ghost=4)
    steps = list(scan(stub, SPEC, 0, 9, slice_seconds=10))
    items = {i["created_at"] for s in steps if isinstance(s, Page) for i in s.items}
    assert items == set(times)
    assert [s.value for s in steps if isinstance(s, Checkpoint)][-1] == 9
    assert sum(1 for lo, hi, token in stub.queries if (lo, hi, token) == (4, 4, None)) == 3
    assert any("going on with what it gave" in r.message for r in caplog.records)


def test_a_whole_walk_costs_no_extra_search() -> None:
    """Pages that give every item the search counts: one search per page, nothing read
    again (the normal case costs what it cost before the check)."""
    stub = Stub(list(range(10)), per_page=3)
    list(scan(stub, SPEC, 0, 9, slice_seconds=10))
    assert len(stub.queries) == 4
