"""Every event real Intercom produces, at its real time: ratings given after they were asked
for (and changed), leads who sign up later, a search index that lags, strict slice edges, and
the operator's choices (bot-started conversations, quick replies, ticket categories).

The fake Intercom is as strict as the 2.14 spec here; expectations come from the workspace's
own record of what happened (`tests/truth.py`), never from the detection code.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncer.daemon import run_cycle
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace, generate
from tests.clock import Clock, iso
from tests.conftest import INTERCOM_TOKEN, config_text
from tests.test_cycle import cycle_context
from tests.truth import expected_deliveries

DAY = 86_400


@pytest.mark.parametrize("strict", [False, True], ids=["inclusive", "strict"])
def test_adjacent_catchups_deliver_what_one_window_delivers(
    strict: bool,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """`--until X` then `--since X` delivers exactly the goals of one window over the span,
    each once, whether Intercom's `>`/`<` include their boundary or not: a rating asked for
    before X and given after it, messages on both sides, events on the very second X."""
    start, edge, end = now - 6 * DAY, now - 3 * DAY, now - 600
    ws = generate(seed=13, conversations=200, start=start, end=end)
    user = ws.add_contact(external_id="edge-user")
    conv = ws.start_conversation(user, edge - 50)
    ws.add_part(conv, edge, author_type="user", author_id=user)
    ws.add_part(conv, edge + 50, author_type="user", author_id=user)
    ws.request_rating(conv, edge - 100)
    ws.rate(conv, edge + 100, 4)
    ws.start_conversation(user, edge)
    ws.add_ticket(user, edge)
    with FakeIntercom(ws, token=INTERCOM_TOKEN, strict_bounds=strict) as intercom:
        text = config_text(intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
        config = str(write_config(text))
        first = cli("--config", config, "sync", "--since", iso(start), "--until", iso(edge))
        second = cli("--config", config, "sync", "--since", iso(edge), "--until", iso(end))
    assert (first.code, second.code) == (0, 0), first.err + second.err
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, start, end)
    rated = [at for name, at, _ in fake_collector.goal_keys() if name.endswith("rated")]
    assert (edge + 100) * 1000 in rated


def test_a_rating_is_delivered_when_given_and_again_when_changed(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
) -> None:
    """The daemon sends a rating at the time the contact gave it (not when it was asked
    for), with its score; a changed rating is a second goal with the new score."""
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="rater")
    path = write_config(
        config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
    )
    with cycle_context(path) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        conv = ws.start_conversation(user, t0 + 1)
        ws.request_rating(conv, t0 + 2)
        run_cycle(ctx, pub, now=t0 + 10)
        ws.rate(conv, t0 + 20, 2)
        run_cycle(ctx, pub, now=t0 + 30)
        ws.rate(conv, t0 + 40, 5)
        run_cycle(ctx, pub, now=t0 + 50)
    ratings = [
        (goal.achieved_at, goal.properties)
        for goal in fake_collector.accepted
        if goal.name == "intercom_conversation_rated"
    ]
    assert ratings == [((t0 + 20) * 1000, {"rating": 2}), ((t0 + 40) * 1000, {"rating": 5})]


@pytest.fixture
def lagging(now: int) -> Iterator[tuple[FakeIntercom, Clock]]:
    """A fake Intercom whose search shows each object as it was ten minutes ago."""
    clock = Clock(now)
    ws = Workspace()
    with FakeIntercom(ws, token=INTERCOM_TOKEN, clock=clock, search_lag=600) as fake:
        yield fake, clock


def _activity(ws: Workspace, at: int) -> None:
    """One of each event, by a user, at `at`."""
    user = ws.add_contact(external_id=f"lag-{at}")
    conv = ws.start_conversation(user, at)
    ws.add_part(conv, at + 5, author_type="user", author_id=user)
    ws.request_rating(conv, at + 6)
    ws.rate(conv, at + 8, 3)
    ws.add_ticket(user, at + 9)


@pytest.mark.parametrize("reconcile", [True, False], ids=["reconciled", "live-only"])
def test_a_search_index_lagging_ten_minutes_loses_nothing_with_reconciliation(
    reconcile: bool,
    lagging: tuple[FakeIntercom, Clock],
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
) -> None:
    """Search lags 600 s, more than settle + overlap (360 s): the live scans pass the new
    items by before they become searchable. The hourly reconciliation pass finds every one
    (and counts them in `status`); without it, they are lost."""
    fake, clock = lagging
    interval = 3_600 if reconcile else 0
    path = write_config(
        config_text(
            fake.url,
            tmp_path / "s.db",
            collector_url=fake_collector.url,
            sync=f"settle = 60\noverlap = 300\nreconcile_interval = {interval}\n",
        )
    )
    with cycle_context(path) as (ctx, pub):
        t0 = int(clock())
        run_cycle(ctx, pub, now=t0)  # pins the cursors; the first reconciliation is cheap
        for minute in range(62):  # an hour of one-minute cycles, with activity in two of them
            if minute in (0, 6):
                _activity(fake.workspace, clock.advance(10))
            run_cycle(ctx, pub, now=clock.advance(60))
        note = ctx.store.notes().get("reconcile")
    expected = expected_deliveries(fake.workspace, t0, int(clock()))
    assert sum(expected.values()) == 10
    got = Counter(fake_collector.goal_keys())
    if reconcile:
        assert got == expected
        assert note is not None and note["found_total"] == 10
    else:
        assert sum(got.values()) == 0, "the live scans alone miss items indexed this late"


@pytest.mark.parametrize("merged_status", [404, 410], ids=["2.14-404", "2.16-410"])
def test_a_lead_who_signs_up_later_is_delivered_by_the_daemon_on_its_own(
    merged_status: int,
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
) -> None:
    """A lead writes: the search item says `external_id: null`, which is taken as it is (no
    read-time lookup, register R-null-unit-fields): unattributed. They sign up; the daemon's
    hourly re-resolution looks the contact up afresh and delivers their goals with their new
    user id. A lead merged into a user (register R-merged-contacts) answers 404 on 2.14: the
    pass re-reads the conversation, which names the user; where 410 with a canonical link is
    served (2.16), it is followed."""
    fake_intercom.merged_status = merged_status
    ws = fake_intercom.workspace
    lead = ws.add_contact(role="lead", email=None)
    merged_lead = ws.add_contact(role="lead")
    user = ws.add_contact(external_id="known-user")
    path = write_config(
        config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
    )
    with cycle_context(path) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        ws.start_conversation(lead, t0 + 1)
        merged_conversation = ws.start_conversation(merged_lead, t0 + 2)
        ws.request_rating(merged_conversation, t0 + 3)
        ws.rate(merged_conversation, t0 + 4, 2)
        first = run_cycle(ctx, pub, now=t0 + 10)
        assert first.sent == 0
        assert fake_intercom.calls()["GET /contacts/{id}"] == 0  # the item said null
        ws.convert_lead(lead, "signed-up")
        ws.merge_contact(merged_lead, user)
        run_cycle(ctx, pub, now=t0 + 600)
        assert not fake_collector.goal_keys(), "re-resolution waits for its hour"
        run_cycle(ctx, pub, now=t0 + 3_700)
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, t0, t0 + 3_700)
    uids = {units[0][1] for _, _, units in fake_collector.goal_keys()}
    assert uids == {"signed-up", "known-user"}
    assert len(fake_collector.goal_keys()) == 5  # each: started, opening; and the rating
    reread = fake_intercom.calls()["GET /conversations/{id}"]
    assert reread >= (1 if merged_status == 404 else 0)


def test_outbox_resolve_delivers_a_lead_who_signed_up(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """`outbox resolve` looks contacts up afresh: a converted lead's events become pending
    and the next sync sends them, once."""
    ws = fake_intercom.workspace
    lead = ws.add_contact(role="lead")
    ws.start_conversation(lead, now - 100)
    config = str(
        write_config(
            config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
        )
    )
    assert cli("--config", config, "sync", "--since", iso(now - 200)).code == 0
    assert not fake_collector.goal_keys()
    ws.convert_lead(lead, "converted")
    result = cli("--config", config, "outbox", "resolve")
    assert result.out.startswith("2 events recovered"), result.out
    assert cli("--config", config, "sync", "--since", iso(now - 200)).code == 0
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, now - 200, now)
    assert {u[0][1] for _, _, u in fake_collector.goal_keys()} == {"converted"}


OPTIONS = """
[goals.conversation_started]
bot_started = true
[goals.user_messaged]
quick_replies = true
[goals.ticket_created]
categories = ["Customer", "Back-office", "Tracker"]
"""


@pytest.mark.parametrize("options", [False, True], ids=["defaults", "all-options"])
def test_bot_started_quick_replies_and_ticket_categories_follow_the_config(
    options: bool,
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """By default a bot-opened conversation is not "started" (its contact's replies are
    messages), a quick-reply click is not a message, and only Customer tickets count; each
    switch turns its events on: a bot conversation starts when the contact first answers."""
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="bot-talker")
    conv = ws.start_conversation(user, now - 300, by_bot=True)
    ws.add_part(conv, now - 290, author_type="bot", author_id="99", part_type="quick_reply")
    ws.add_part(conv, now - 280, author_type="user", author_id=user, part_type="quick_reply")
    ws.add_part(conv, now - 270, author_type="user", author_id=user)
    ws.add_ticket(user, now - 260, category="Tracker")
    ws.add_ticket(user, now - 250, category="Back-office")
    text = config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
    config = str(write_config(text + (OPTIONS if options else "")))
    result = cli("--config", config, "sync", "--since", iso(now - 8 * DAY))
    assert result.code == 0, result.err
    variants = frozenset({"bot_started", "quick_reply", "Tracker", "Back-office"})
    expected = expected_deliveries(ws, 0, now, variants=variants if options else frozenset())
    assert Counter(fake_collector.goal_keys()) == expected
    started = {at for name, at, _ in fake_collector.goal_keys() if name.endswith("started")}
    assert ((now - 280) * 1000 in started) is options  # the contact's first answer


def test_status_counts_what_reconciliation_found(
    lagging: tuple[FakeIntercom, Clock],
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    """`status --json` carries the last reconciliation: when, and what it found."""
    fake, clock = lagging
    path = write_config(config_text(fake.url, tmp_path / "s.db", collector_url=fake_collector.url))
    with cycle_context(path) as (ctx, pub):
        run_cycle(ctx, pub, now=int(clock()))
    summary = json.loads(cli("--config", str(path), "status", "--json").out)
    assert summary["reconcile"]["found"] == 0
    assert summary["reconcile"]["at"] == int(clock())
