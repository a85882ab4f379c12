"""One daemon cycle, in-process: what it reads and what an idle cycle costs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from syncer import config as config_mod
from syncer.absmartly.publisher import Publisher
from syncer.daemon import run_cycle
from syncer.runtime import open_context
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, config_text


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
    env = {"INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN, "ABSMARTLY_API_KEY": COLLECTOR_KEY}
    config = config_mod.load(path, env=env)
    with (
        open_context(config) as ctx,
        contextlib.closing(Publisher(config.absmartly, ctx.db)) as pub,
    ):
        run_cycle(ctx, pub)  # the first cycle pins the cursors at "now"
        ws = fake_intercom.workspace
        user = ws.add_contact(external_id="cycle-user")
        time.sleep(1.1)  # live activity comes after the daemon started
        ws.start_conversation(user, int(time.time()))
        busy = run_cycle(ctx, pub)
        assert busy.sent == 2  # started + opening message
        fake_intercom.requests.clear()
        fake_collector.requests.clear()
        time.sleep(1.1)  # a poll interval later (an empty window would cost nothing at all)
        idle = run_cycle(ctx, pub)
    assert fake_intercom.calls() == {"POST /conversations/search": 2, "POST /tickets/search": 1}
    assert fake_collector.requests == []
    assert sum(s.new for s in idle.scans.values()) == 0
