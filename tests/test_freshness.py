"""Read to now, deliver at once, hand over behind (issue 28): at the shipped defaults a cycle
delivers what happened a second ago, long before `settle` has passed, while its cursor stays
`settle` behind now; and a search index 150 s behind loses nothing and doubles nothing.

Cycles run on a clock the test moves (no timing): a cycle at `now` reads what the fake
workspace holds at `now`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from syncer.config import SyncSettings
from syncer.daemon import run_cycle
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace
from tests.clock import Clock
from tests.conftest import INTERCOM_TOKEN, config_text
from tests.test_cycle import cycle_context
from tests.truth import expected_deliveries

DEFAULTS = SyncSettings(database="", start=None)
DEFAULT_KINDS = ("conversation_started", "conversation_rated", "user_messaged", "ticket_created")


def test_a_goal_is_delivered_in_the_cycle_after_it_happened_before_settle_has_passed(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
    now: int,
) -> None:
    """One poll interval after the conversation opened (less than `settle`), the cycle
    delivers its two goals; the cursors hand over only to `now - settle`, so the next cycles
    search that second again; and they deliver nothing twice."""
    assert DEFAULTS.poll_interval < DEFAULTS.settle  # what this test is about
    path = write_config(
        config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url, sync="")
    )
    ws = fake_intercom.workspace
    with cycle_context(path) as (ctx, pub):
        t0 = now
        run_cycle(ctx, pub, now=t0)  # pins the cursors at t0 - settle
        user = ws.add_contact(external_id="fresh")
        at = t0 + 1
        ws.start_conversation(user, at)
        ws.add_ticket(user, at)
        cycle = t0 + DEFAULTS.poll_interval
        report = run_cycle(ctx, pub, now=cycle)
        assert cycle - at < DEFAULTS.settle
        assert report.sent == 3
        cursors = {c.name: c.last_value for c in ctx.store.cursors()}
        assert cursors == dict.fromkeys(DEFAULT_KINDS, cycle - DEFAULTS.settle)
        for step in range(1, 6):  # the next cycles read that second again, send nothing more
            later = run_cycle(ctx, pub, now=cycle + step * DEFAULTS.poll_interval)
            assert later.sent == 0
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, t0, cycle)


def test_a_search_index_150_seconds_behind_loses_nothing_at_the_defaults(
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
    now: int,
) -> None:
    """Every object reaches the search 150 s after it changed. Cycles every poll interval
    of the defaults, with activity (openings, replies, ratings, tickets) in the first two
    minutes: nothing arrives while the index shows nothing, then every goal exactly once,
    found by the live scans' re-read of `settle + overlap` (the reconciliation pass is off,
    so nothing else could find them)."""
    clock = Clock(now)
    ws = Workspace()
    with FakeIntercom(ws, token=INTERCOM_TOKEN, clock=clock, search_lag=150) as fake:
        path = write_config(
            config_text(
                fake.url,
                tmp_path / "s.db",
                collector_url=fake_collector.url,
                sync="reconcile_interval = 0\n",  # the live scans alone
            )
        )
        convs: list[tuple[str, str]] = []
        with cycle_context(path) as (ctx, pub):
            t0 = int(clock())
            run_cycle(ctx, pub, now=t0)
            step = 0
            hidden = -1
            while clock() < t0 + 330:
                at = clock.advance(DEFAULTS.poll_interval)
                if at < t0 + 120:
                    step += 1
                    user = ws.add_contact(external_id=f"lag-{step}")
                    if step % 3 == 0 and convs:
                        conv, author = convs[step % len(convs)]
                        ws.add_part(conv, at, author_type="user", author_id=author)
                    elif step % 5 == 0 and convs:
                        conv, _ = convs[-1]
                        if ws.conversations[conv]["conversation_rating"] is None:
                            ws.request_rating(conv, at)
                            ws.rate(conv, at, 1 + step % 5)
                    elif step % 7 == 0:
                        ws.add_ticket(user, at)
                    else:
                        convs.append((ws.start_conversation(user, at), user))
                run_cycle(ctx, pub, now=at)
                if at < t0 + 150:  # the index shows nothing of it yet
                    hidden = len(fake_collector.goal_keys())
            end = int(clock())
    assert hidden == 0
    expected = expected_deliveries(ws, t0, end)
    assert {name for name, _, _ in expected} == {
        "intercom_conversation_started",
        "intercom_user_messaged",
        "intercom_conversation_rated",
        "intercom_ticket_created",
    }
    assert Counter(fake_collector.goal_keys()) == expected
