"""What makes the catch-up fast, tested without timing: call counts, pacing, bounds, streaming."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from syncer.config import IntercomSettings
from syncer.intercom.client import IntercomClient, SearchPage
from syncer.intercom.scans import Page, ScanSpec, scan
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace, generate
from tests.conftest import INTERCOM_TOKEN, config_text, wait_until
from tests.truth import expected_deliveries


def test_a_small_catch_up_makes_exactly_these_calls(
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """The workspace checked once, one search per scan, and a fetch only for conversations
    with a contact message after the opening one: not for the one opened and never answered
    (its search item is all of it), not for the outbound one nobody answered, and no contact
    lookups (external_id comes with the search items)."""
    ws = Workspace()
    user = ws.add_contact(external_id="u1", email="u1@example.com")
    t0 = now - 3_000
    talked = ws.start_conversation(user, t0)
    ws.add_part(talked, t0 + 10, author_type="admin", author_id="7")
    ws.add_part(talked, t0 + 20, author_type="user", author_id=user)
    ws.start_conversation(user, t0 + 30)  # opened, never answered: one message, no fetch
    ws.start_conversation(user, t0 + 40, by_admin=True)  # outbound, no reply: no fetch
    ws.add_ticket(user, t0 + 50)
    with FakeIntercom(ws, token=INTERCOM_TOKEN) as intercom:
        config = write_config(
            config_text(intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
        )
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 - 60))
        assert cli("--config", str(config), "sync", "--since", since).code == 0
        assert intercom.calls() == {
            "GET /me": 1,  # the workspace the state belongs to (runtime.open_context)
            "POST /conversations/search": 3,
            "POST /tickets/search": 1,
            "GET /conversations/{id}": 1,
        }


def test_pacer_holds_many_threads_under_the_budget(workspace: Workspace) -> None:
    """Eight threads, 120 calls, a budget of 20 per 1-second window: no 429, ever."""
    with FakeIntercom(workspace, token=INTERCOM_TOKEN, budget=20, window=1) as fake:
        settings = IntercomSettings("X", fake.url, concurrency=8, token=INTERCOM_TOKEN)
        with IntercomClient(settings) as client, ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: client.me(), range(120)))
        # The fake answers 429 to any call past its window's budget: none means none went over.
        assert fake.statuses() == {200: 120}
        assert client.transport.rate_limited == 0


def test_concurrency_is_bounded(
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """With concurrency 3, Intercom never sees more than 3 fetches plus one search per scan,
    and the fetches do run 3 at a time (94 are handed to the pool at once, each held 50 ms
    by the fake: a busy machine can delay a search beside them, not the pool's own three)."""
    ws = generate(seed=4, conversations=120, start=now - 86_400, end=now - 60)
    with FakeIntercom(ws, token=INTERCOM_TOKEN, latency=0.05) as intercom:
        text = config_text(intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
        config = write_config(text.replace("[intercom]\n", "[intercom]\nconcurrency = 3\n"))
        assert cli("--config", str(config), "sync", "--since", "2000-01-01").code == 0
        assert 3 <= intercom.max_in_flight <= 3 + 4


class Pages:
    """A search of `pages` one-item pages that notes, at each call, how many pages the
    scan's caller had taken by then."""

    def __init__(self, pages: int) -> None:
        self.pages, self.taken = pages, 0
        self.calls: list[tuple[int, int]] = []  # (page asked for, pages the caller had taken)

    def search(
        self, resource: str, query: Mapping[str, Any], starting_after: str | None = None
    ) -> SearchPage:
        n = int(starting_after or 0)
        self.calls.append((n, self.taken))
        following = str(n + 1) if n + 1 < self.pages else None
        return SearchPage([{"id": f"c{n}", "created_at": n}], following, self.pages)


def test_a_scan_reads_one_page_ahead_and_no_more() -> None:
    """A scan asks for the next page before it hands out the current one (the search runs
    while the caller reads the page), and never two ahead: memory holds two pages, whatever
    the window. The caller waits for the search ahead before it takes the next page, so
    when each search was asked is exact."""
    search = Pages(6)
    got = []
    for step in scan(search, ScanSpec("conversations", "created_at"), 0, 100, 1000):
        if isinstance(step, Page):
            got += [item["id"] for item in step.items]
            ahead = min(len(got) + 1, 6)
            assert wait_until(lambda n=ahead: len(search.calls) == n, timeout=60)
            search.taken += 1
    assert got == [f"c{n}" for n in range(6)]
    # Page n is asked for while the caller holds page n - 1, and no sooner.
    assert search.calls == [(0, 0)] + [(n, n - 1) for n in range(1, 6)]


def test_a_catch_up_delivers_while_it_still_reads(
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Goals reach the Collector before the last Intercom call, so the end of a long
    catch-up has no backlog to send; and still each goal once."""
    since = now - 3 * 86_400
    ws = generate(seed=5, conversations=200, start=since + 60, end=now - 60)
    with FakeIntercom(ws, token=INTERCOM_TOKEN, latency=0.05) as intercom:
        text = config_text(intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
        config = write_config(text.replace("[intercom]\n", "[intercom]\nconcurrency = 2\n"))
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since))
        assert cli("--config", str(config), "sync", "--since", start).code == 0
        last_read = max(request.at for request in intercom.requests)
    first_publish = min(goal.published_at for goal in fake_collector.accepted) / 1000
    assert first_publish < last_read - 1
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, since, now)
