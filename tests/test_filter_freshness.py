"""What a filter judges is read no longer ago than one poll cycle; the contact cache still
serves units for `contact_ttl` (issue 27, item 6; README "What a filter sees")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from syncer.daemon import run_cycle
from syncer.store import state
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import config_text
from tests.test_cycle import cycle_context

POLL = 10
RULES = """
[[goal]]
kind = "ticket_created"
name = "vip_ticket"
where.contact.tags = "VIP"

[[goal]]
kind = "user_messaged"
name = "messaged"
"""


def test_a_tag_added_a_cycle_ago_is_seen_while_units_come_from_the_cache(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    tmp_path: Path,
    now: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A contact's ticket is filtered (no VIP tag); the contact is tagged; a poll cycle and
    more later, their next ticket is judged on the contact read again, and admitted. The
    contact whose events only units read (by email) is read once and served from the cache
    in the next cycle. The cache's clock is the test's: no waiting."""
    clock = [float(now)]
    monkeypatch.setattr(state, "time", SimpleNamespace(time=lambda: clock[0]))
    ws = fake_intercom.workspace
    vip = ws.add_tag("VIP")
    tagged = ws.add_contact(external_id="t", email="t@example.com")
    writer = ws.add_contact(external_id="w", email="w@example.com")
    config = write_config(
        config_text(
            fake_intercom.url,
            tmp_path / "s.db",
            collector_url=fake_collector.url,
            units='[[units]]\ntype = "user_id"\nfrom = "email"\n',
            sync=f"settle = 0\noverlap = 0\npoll_interval = {POLL}\n",
            extra=RULES,
        )
    )
    with cycle_context(config) as (ctx, pub):
        run_cycle(ctx, pub, now=now)  # pins the cursors
        ws.add_ticket(tagged, now + 1)
        ws.start_conversation(writer, now + 1)
        run_cycle(ctx, pub, now=now + 2)
        ws.tag_contact(tagged, vip)
        clock[0] += POLL + 1  # the tagged contact's cached read is now a cycle old
        ws.add_ticket(tagged, now + 20)
        ws.start_conversation(writer, now + 20)
        run_cycle(ctx, pub, now=now + 21)
    sent = sorted((name, at // 1000) for name, at, _ in fake_collector.goal_keys())
    assert sent == [("messaged", now + 1), ("messaged", now + 20), ("vip_ticket", now + 20)]
    reads = [r.path for r in fake_intercom.requests if r.method == "GET"]
    assert reads.count(f"/contacts/{tagged}") == 2  # judged: read again after a cycle
    assert reads.count(f"/contacts/{writer}") == 1  # units alone: the cache serves it
    assert reads.count("/tags") >= 2  # the tag names too, no older than a cycle


def test_a_catch_up_judges_by_what_it_read_since_it_started() -> None:
    """A live read judges by lookups at most one poll cycle old; a catch-up by anything it
    read since it started (it judges past events by today's values: one lookup a contact a
    run, not one every poll_interval), and neither by more than `contact_ttl`."""
    import time

    from syncer.config import SyncSettings
    from syncer.pipeline.lookups import judging_age

    sync = SyncSettings(database="", start=None, poll_interval=POLL, contact_ttl=600)
    live = SimpleNamespace(config=SimpleNamespace(sync=sync), started=None)
    assert judging_age(live) == POLL  # type: ignore[arg-type]
    run = SimpleNamespace(config=SimpleNamespace(sync=sync), started=time.time() - 120)
    assert 120 <= judging_age(run) < 130  # type: ignore[arg-type]
    run.started = time.time() - 3_600
    assert judging_age(run) == 600  # type: ignore[arg-type]
