"""One daemon cycle, in-process: what it reads and what an idle cycle costs."""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncer import config as config_mod
from syncer.absmartly.publisher import Publisher
from syncer.daemon import run_cycle
from syncer.learned import PartsReading
from syncer.pipeline import Context
from syncer.runtime import RUN_ONCE, open_context
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, config_text
from tests.truth import expected_deliveries


@contextlib.contextmanager
def cycle_context(path: Path) -> Iterator[tuple[Context, Publisher]]:
    """What `syncer run` opens, in-process, so a test can run cycles one at a time."""
    env = {"INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN, "ABSMARTLY_API_KEY": COLLECTOR_KEY}
    config = config_mod.load(path, env=env)
    with open_context(config, RUN_ONCE) as opened:
        assert opened.publisher is not None
        yield opened.ctx, opened.publisher


def test_an_idle_cycle_costs_one_search_per_enabled_scan(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
) -> None:
    """Nothing new: exactly one search call per enabled scan, no fetch, no publish."""
    path = write_config(
        config_text(
            fake_intercom.url,
            tmp_path / "s.db",
            collector_url=fake_collector.url,
            extra="[goals.conversation_rated]\nenabled = false\n",
        )
    )
    start = int(time.time()) - 60  # the cycles' own clock: no waiting for a second to pass
    with cycle_context(path) as (ctx, pub):
        run_cycle(ctx, pub, now=start)  # the first cycle pins the cursors at "now"
        ws = fake_intercom.workspace
        user = ws.add_contact(external_id="cycle-user")
        ws.start_conversation(user, start + 1)  # live activity comes after the daemon started
        busy = run_cycle(ctx, pub, now=start + 2)
        assert busy.sent == 2  # started + opening message
        fake_intercom.requests.clear()
        fake_collector.requests.clear()
        # A poll interval later (an empty window would cost nothing at all).
        idle = run_cycle(ctx, pub, now=start + 5)
    assert fake_intercom.calls() == {"POST /conversations/search": 2, "POST /tickets/search": 1}
    assert fake_collector.requests == []
    assert sum(s.new for s in idle.scans.values()) == 0


@pytest.mark.parametrize("known", [True, False], ids=["reading-shown", "reading-not-yet-shown"])
def test_a_cycle_fetches_a_conversation_only_when_it_shows_what_was_not_read(
    known: bool,
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    database_url: str,
    now: int,
) -> None:
    """A conversation inside the live overlap, cycle after cycle: opened (the search item is
    all of it: no fetch), answered by an admin (a part more: fetched, since the count says
    only that a part came), left alone (nothing moved: no fetch), then the contact writes
    again (fetched). Every message arrives once (on SQLite and on PostgreSQL). Until the
    workspace has shown that its count includes the opening, the opening alone is fetched
    too: a count of 1 could be the opening and a second message."""
    path = write_config(
        config_text(
            fake_intercom.url,
            database_url,
            collector_url=fake_collector.url,
            sync="settle = 0\noverlap = 300\n",
        )
    )
    ws = fake_intercom.workspace
    ws.parts_reading = "with_opening"  # as every real payload counts (R-count-parts)
    user = ws.add_contact(external_id="talker")
    conv: list[str] = []
    changes: list[Callable[[int], object]] = [
        lambda at: conv.append(ws.start_conversation(user, at)),
        lambda at: ws.add_part(conv[0], at, author_type="admin", author_id="7"),
        lambda at: None,
        lambda at: ws.add_part(conv[0], at, author_type="user", author_id=user),
    ]
    fetches = []
    with cycle_context(path) as (ctx, pub):
        if known:
            ctx.parts = PartsReading("with_opening", confirmed=True)
        run_cycle(ctx, pub, now=now)  # pins the cursors
        for step, change in enumerate(changes, 1):
            change(now + 10 * step)
            fake_intercom.requests.clear()
            run_cycle(ctx, pub, now=now + 10 * step + 5)
            fetches.append(fake_intercom.calls()["GET /conversations/{id}"])
    assert fetches == ([0, 1, 0, 1] if known else [1, 1, 0, 1])
    messages = sorted(at for name, at, _ in fake_collector.goal_keys() if "messaged" in name)
    assert messages == [(now + 10) * 1000, (now + 40) * 1000]


def test_run_once_reads_and_delivers_then_exits_by_outcome(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """`run --once`: one cycle from `sync.start`, exit 0; again, nothing new and exit 0; with
    the Collector down, exit 1 and the new goals wait in the outbox for the next run."""
    start = now - 9 * 86_400
    text = config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    config = str(write_config(text.replace("settle = 0\n", f'settle = 0\nstart = "{iso}"\n')))
    ws = fake_intercom.workspace
    assert cli("--config", config, "run", "--once").code == 0
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, start, now)
    assert cli("--config", config, "run", "--once").code == 0
    assert len(fake_collector.goal_keys()) == sum(expected_deliveries(ws, start, now).values())

    time.sleep(1.1)
    ws.start_conversation(ws.add_contact(external_id="late"), int(time.time()))
    fake_collector.outage = 503
    assert cli("--config", config, "run", "--once").code == 1
    fake_collector.outage = None
    status = json.loads(cli("--config", config, "status", "--json").out)
    assert status["outbox"]["pending"] == 2  # started + opening message, kept for next time
