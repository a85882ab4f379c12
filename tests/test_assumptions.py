"""The assumptions register (docs/intercom-assumptions.md), entry by entry, against a fake
Intercom that follows the 2.14 text: ticket categories searched by terms, merged contacts
answering 404, remarks that move a rating's `updated_at`, and a switch for each reading the
text leaves open (`count_conversation_parts`, `replied_at`, strict or inclusive bounds).

Expectations come from the workspace's own record (`tests/truth.py`), never from detection.
"""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from syncer import detect, kinds, probe
from syncer.config import GoalSettings
from syncer.daemon import run_cycle
from syncer.intercom.client import IntercomClient
from syncer.intercom.scans import ScanSpec
from syncer.kinds import Scan
from syncer.store.outbox import Goal
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace, generate
from tests.clock import Clock, iso
from tests.conftest import INTERCOM_TOKEN, config_text
from tests.test_cycle import cycle_context
from tests.truth import NAMES, expected_deliveries

DAY = 86_400


def _config(fake: FakeIntercom, collector: FakeCollector, tmp_path: Path, extra: str = "") -> str:
    return config_text(fake.url, tmp_path / "s.db", collector_url=collector.url, extra=extra)


# -- R-ticket-category ------------------------------------------------------------------------


def test_every_ticket_goal_arrives_where_categories_are_searched_by_terms(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """The fake matches `request`, not `Customer` (as SearchTickets says): a catch-up and
    then the daemon deliver every Customer ticket, none of the others."""
    ws = fake_intercom.workspace
    config = write_config(_config(fake_intercom, fake_collector, tmp_path))
    assert cli("--config", str(config), "sync", "--since", iso(now - 9 * DAY)).code == 0
    user = ws.add_contact(external_id="ticket-filer")
    with cycle_context(config) as (ctx, pub):
        t0 = int(time.time())
        ws.add_ticket(user, t0 - 5)
        ws.add_ticket(user, t0 - 4, category="Tracker")
        run_cycle(ctx, pub, now=t0 + 1)
    tickets = Counter(g for g in fake_collector.goal_keys() if g[0] == "intercom_ticket_created")
    expected = expected_deliveries(ws, 0, now + DAY)
    assert tickets == Counter(
        {g: n for g, n in expected.items() if g[0].endswith("ticket_created")}
    )
    assert sum(tickets.values()) > 20  # the generated Customer tickets, and the new one


def test_a_search_filter_that_loses_events_is_found_by_reconciliation_and_named(
    monkeypatch: pytest.MonkeyPatch,
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    """A test double of the old misreading pushes `category IN ["Customer"]` into the search:
    the live scan finds no ticket. The reconciliation pass searches with the time filter
    alone, delivers them, and `status` names the scan that missed them."""

    def misread(goals: list[GoalSettings]) -> list[Scan]:
        names = {"field": "category", "operator": "IN", "value": ["Customer"]}
        detector = functools.partial(detect.ticket_created, categories=frozenset(["Customer"]))
        spec = ScanSpec("tickets", "created_at", (names,))
        return [Scan("ticket_created", goals[0].kind, spec, detector)]

    monkeypatch.setitem(kinds.SCANS, "ticket_created", misread)  # type: ignore[index]
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="ticket-filer")
    config = write_config(
        _config(fake_intercom, fake_collector, tmp_path) + "reconcile_interval = 3600\n"
    )
    with cycle_context(config) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        ws.add_ticket(user, t0 + 1)
        ws.add_ticket(user, t0 + 2)
        run_cycle(ctx, pub, now=t0 + 10)
        assert not [g for g in fake_collector.goal_keys() if g[0].endswith("ticket_created")]
        run_cycle(ctx, pub, now=t0 + 3_700)
    tickets = [g for g in fake_collector.goal_keys() if g[0].endswith("ticket_created")]
    assert len(tickets) == 2
    summary = json.loads(cli("--config", str(config), "status", "--json").out)
    assert summary["reconcile"]["scans"]["ticket_created"]["found"] == 2
    assert summary["reconcile"]["scans"]["conversation_started"]["found"] == 0
    text = cli("--config", str(config), "status").out
    assert "ticket created (live): 2 events missed by the live scan" in text


def test_status_says_when_a_scan_read_a_day_of_objects_and_none_was_an_event(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    """Only Tracker tickets count, and every ticket of the day is a Customer one: the
    reconciliation pass saw them, and `status` says that none was an event."""
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="filer")
    extra = '[goals.ticket_created]\ncategories = ["Tracker"]\n'
    config = write_config(
        _config(fake_intercom, fake_collector, tmp_path, extra=extra).replace(
            "[sync]\n", "[sync]\nreconcile_interval = 3600\n"
        )
    )
    with cycle_context(config) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        ws.add_ticket(user, t0 + 1)
        ws.add_ticket(user, t0 + 2)
        run_cycle(ctx, pub, now=t0 + 10)
        run_cycle(ctx, pub, now=t0 + 3_700)
    text = cli("--config", str(config), "status").out
    assert "ticket created (live): none of the 2 objects of the window was an event" in text


# -- R-merged-contacts ------------------------------------------------------------------------


@pytest.mark.parametrize("merged_status", [404, 410], ids=["2.14-404", "2.16-410"])
def test_outbox_resolve_delivers_a_merged_lead_with_the_users_units(
    merged_status: int,
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """A lead's conversation and ticket, then the lead is merged into a user: on 2.14 the lead
    answers 404 and the conversation and ticket name the user; `outbox resolve` re-reads them
    and the next sync delivers every goal once, with the user's id."""
    fake_intercom.merged_status = merged_status
    ws = fake_intercom.workspace
    lead = ws.add_contact(role="lead")
    user = ws.add_contact(external_id="the-user")
    ws.start_conversation(lead, now - 100)
    ws.add_ticket(lead, now - 90)
    config = str(write_config(_config(fake_intercom, fake_collector, tmp_path)))
    assert cli("--config", config, "sync", "--since", iso(now - 200)).code == 0
    assert not fake_collector.goal_keys()
    ws.merge_contact(lead, user)
    result = cli("--config", config, "outbox", "resolve")
    assert result.out.startswith("3 events recovered"), result.out
    assert cli("--config", config, "sync", "--since", iso(now - 200)).code == 0
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, now - 200, now)
    assert {u[0][1] for _, _, u in fake_collector.goal_keys()} == {"the-user"}


# -- R-rating-times ---------------------------------------------------------------------------


@pytest.mark.parametrize("replied_at", ["updated_at", "given"])
def test_a_remark_sends_nothing_new_and_a_changed_score_sends_one_goal(
    replied_at: str,
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
) -> None:
    """Under both readings of `replied_at` (it is `updated_at`, or stays where the score was
    given while a remark moves `updated_at`): a remark after a rating sends nothing; a new
    score sends one goal with that score."""
    fake_intercom.replied_at = replied_at
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="rater")
    path = write_config(_config(fake_intercom, fake_collector, tmp_path))
    with cycle_context(path) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        conv = ws.start_conversation(user, t0 + 1)
        ws.request_rating(conv, t0 + 2)
        ws.rate(conv, t0 + 3, 4)
        run_cycle(ctx, pub, now=t0 + 10)
        ws.remark(conv, t0 + 20, "and one more thing")
        run_cycle(ctx, pub, now=t0 + 30)
        ws.rate(conv, t0 + 40, 2, "changed my mind")
        run_cycle(ctx, pub, now=t0 + 50)
    ratings = [
        (g.achieved_at, g.properties) for g in fake_collector.accepted if g.name.endswith("rated")
    ]
    assert ratings == [((t0 + 3) * 1000, {"rating": 4}), ((t0 + 40) * 1000, {"rating": 2})]
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, t0, t0 + 50)


@pytest.mark.parametrize("replied_at", ["updated_at", "given"])
def test_a_catch_up_after_the_remark_still_finds_the_rating(
    replied_at: str,
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """A catch-up whose window ends between the score and a later remark: the rating is
    delivered once under both readings (dated at `updated_at` where that is all the object
    says), and the next window sends it no second time."""
    fake_intercom.replied_at = replied_at
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="late-remark")
    conv = ws.start_conversation(user, now - 500)
    ws.rate(conv, now - 400, 5)
    ws.remark(conv, now - 100, "thanks")
    config = str(write_config(_config(fake_intercom, fake_collector, tmp_path)))
    assert (
        cli("--config", config, "sync", "--since", iso(now - 600), "--until", iso(now - 300)).code
        == 0
    )
    assert cli("--config", config, "sync", "--since", iso(now - 300)).code == 0
    rated = [g for g in fake_collector.accepted if g.name.endswith("rated")]
    assert len(rated) == 1 and rated[0].properties == {"rating": 5}


def test_an_outbox_of_the_old_rating_key_gets_no_second_goal(tmp_path: Path) -> None:
    """Earlier versions keyed a rating by its `updated_at`: a rating stored under that key is
    not stored again under the new one."""
    from syncer import config as config_mod
    from syncer.store.db import open_store

    raw = {
        "intercom": {"base_url": "http://127.0.0.1:9"},
        "absmartly": {"endpoint": "http://127.0.0.1:9/v1", "application": "w", "environment": "p"},
        "units": [{"type": "user_id", "from": "external_id"}],
        "sync": {"database": f"sqlite:///{tmp_path / 's.db'}"},
    }
    settings = config_mod.parse(raw, env={}).sync

    def goal(key: str, *replaces: str, name: str = "n") -> Goal:
        return Goal(
            key, "conversation_rated", name, 1, (("user_id", "u"),), {}, {}, replaces=replaces
        )

    with open_store(settings, lock=False) as store:
        assert store.store_page([goal("conversation:1:rated:3000")], {})
        # Today's key (by request and score, per goal) of the rating stored under its time.
        old = ("conversation:1:rated:2000:4", "conversation:1:rated:3000")
        assert store.store_page([goal("conversation:1:rated:2000:4@n", *old)], {}) == []
        # The same event counted for another goal is that goal's own.
        also = goal("conversation:1:rated:2000:4@low", *old, name="low")
        assert store.store_page([also], {}) == [also]
        other = goal(
            "conversation:2:rated:2000:4@n",
            "conversation:2:rated:2000:4",
            "conversation:2:rated:3000",
        )
        assert store.store_page([other], {}) == [other]


# -- R-count-parts ----------------------------------------------------------------------------


@pytest.mark.parametrize("reading", [detect.PARTS, detect.WITH_OPENING])
def test_the_fetch_skip_loses_no_same_second_message_under_either_reading(
    reading: str,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Conversations whose contact wrote twice in the opening's second, among many: every
    message delivered once whichever way the count counts, and the conversations whose
    search item is the whole of them are not all fetched (the reading is learned)."""
    ws = generate(
        seed=5, conversations=120, start=now - 2 * DAY, end=now - 600, parts_reading=reading
    )
    user = ws.add_contact(external_id="quick-typist")
    for at in (now - 500, now - 400):
        conv = ws.start_conversation(user, at)
        ws.add_part(conv, at, author_type="user", author_id=user)
    alone = [
        c for c in ws.conversations.values() if not c["conversation_parts"]["conversation_parts"]
    ]
    with FakeIntercom(ws, token=INTERCOM_TOKEN) as intercom:
        config = str(
            write_config(
                config_text(intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
            )
        )
        assert cli("--config", config, "sync", "--since", iso(now - 3 * DAY)).code == 0
        fetched = intercom.calls()["GET /conversations/{id}"]
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, now - 3 * DAY, now)
    assert fetched < len(ws.conversations) - len(alone) // 2


# -- the probes -------------------------------------------------------------------------------


def _probe(fake: FakeIntercom, now: int, reconcile_window: int = DAY) -> dict[str, probe.Finding]:
    from syncer import config as config_mod

    raw = {
        "intercom": {"base_url": fake.url},
        "absmartly": {"endpoint": "http://127.0.0.1:9/v1", "application": "w", "environment": "p"},
        "units": [{"type": "user_id", "from": "external_id"}],
        "sync": {"database": "sqlite:///unused.db"},
    }
    env = {"INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN}
    settings = config_mod.parse(raw, secrets=("intercom",), env=env).intercom
    with IntercomClient(settings, attempts=2) as client:
        probed = probe.run(client, now, reconcile_window)
    return {f.entry: f for f in probed.findings} | {"_reading": probed.parts_reading}  # type: ignore[dict-item]


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("reading", [detect.PARTS, detect.WITH_OPENING])
def test_probes_confirm_the_documented_semantics_and_learn_the_reading(
    strict: bool, reading: str, now: int
) -> None:
    ws = generate(
        seed=3,
        conversations=60,
        start=now - 5 * DAY,
        end=now - 600,
        parts_reading=reading,
        ai_agent=0.3,
        closes=True,
    )
    with FakeIntercom(ws, token=INTERCOM_TOKEN, strict_bounds=strict) as fake:
        found = _probe(fake, now)
        calls = sum(fake.calls().values())
    verdicts = {entry: f.verdict for entry, f in found.items() if entry != "_reading"}
    assert verdicts == {
        "R-search-bounds": probe.CONFIRMED,
        "R-authors": probe.CONFIRMED,
        "R-ticket-category": probe.CONFIRMED,
        "R-rating-times": probe.CONFIRMED,
        "R-count-parts": probe.CONFIRMED,
        "R-search-lag": probe.CONFIRMED,  # no lag in this fake
        "R-filter-pushdown": probe.CONFIRMED,
        "R-ai-agent": probe.CONFIRMED,
        "R-ai-resolution": probe.CONFIRMED,
        "R-ai-answer": probe.CONFIRMED,
        "R-close-state": probe.CONFIRMED,
        "R-merged-contacts": probe.UNTESTABLE,
    }
    assert ("strict" in found["R-search-bounds"].evidence) is strict
    assert found["_reading"] == reading
    assert "customer_initiated" in found["R-filter-pushdown"].evidence
    assert calls <= 40


def test_the_ai_agent_probe_cannot_test_a_workspace_without_the_ai_agent(now: int) -> None:
    """Its metadata needs the AI agent, a paid feature: without it, the probe says so."""
    ws = generate(seed=3, conversations=20, start=now - 5 * DAY, end=now - 600)
    with FakeIntercom(ws, token=INTERCOM_TOKEN) as fake:
        found = _probe(fake, now)
    assert found["R-ai-agent"].verdict == probe.UNTESTABLE
    assert "paid feature" in found["R-ai-agent"].evidence


@pytest.mark.parametrize(
    ("field", "entry"),
    [
        ("source.type", "R-filter-pushdown"),
        ("source.delivered_as", "R-filter-pushdown"),
        ("ai_agent_participated", "R-ai-agent"),
        ("ai_agent.resolution_state", "R-ai-resolution"),
    ],
)
def test_a_field_the_search_does_not_match_as_documented_is_contradicted(
    now: int, field: str, entry: str
) -> None:
    """A search field a goal's `where` or a scan pushes into the search that does not find
    the conversations an unfiltered search shows: said, naming them; the other probes are
    not affected."""
    ws = generate(seed=3, conversations=40, start=now - 5 * DAY, end=now - 600, ai_agent=0.3)
    with FakeIntercom(ws, token=INTERCOM_TOKEN, unindexed=frozenset({field})) as fake:
        found = _probe(fake, now)
    contradicted = {
        e for e, f in found.items() if e != "_reading" and f.verdict == probe.CONTRADICTED
    }
    assert contradicted == {entry}
    assert "do not find" in found[entry].evidence or "does not find" in found[entry].evidence


UNSEARCHED_GOALS = (
    "[goals.conversation_started]\nbot_started = true\n[goals.ai_agent_resolved]\nenabled = true\n"
)


@pytest.mark.parametrize("adapt", [False, True], ids=["without-probes", "probed"])
def test_the_daemon_checks_on_each_item_what_the_search_does_not_match(
    adapt: bool, fake_collector: FakeCollector, write_config: Callable, tmp_path: Path, now: int
) -> None:
    """Where `source.delivered_as` and `ai_agent_participated` find nothing (the bot-started
    and AI agent scans search both), the start-up probes say so and the daemon checks them
    on each search item instead: every goal arrives. Without the probes' word, the goals
    of those two scans are lost, and only those."""
    from syncer import daemon

    start, end = now - 5 * DAY, now - 600
    ws = generate(seed=8, conversations=80, start=start, end=end, ai_agent=0.3)
    unindexed = frozenset({"source.delivered_as", "ai_agent_participated"})
    with FakeIntercom(ws, token=INTERCOM_TOKEN, unindexed=unindexed) as fake:
        text = config_text(fake.url, tmp_path / "s.db", collector_url=fake_collector.url)
        sync = f'settle = 0\nstart = "{iso(start - 60)}"\n'
        path = write_config(text.replace("settle = 0\n", sync) + UNSEARCHED_GOALS)
        with cycle_context(path) as (ctx, pub):
            if adapt:
                daemon._probe(ctx, None)
                assert ctx.unsearched == {"source.type", *unindexed}
            run_cycle(ctx, pub, now=now)
    kinds_on = frozenset({*list(NAMES)[:4], "ai_agent_resolved"})
    expected = expected_deliveries(ws, 0, now, variants=frozenset({"bot_started"}), kinds=kinds_on)
    got = Counter(fake_collector.goal_keys())
    if adapt:
        assert got == expected
        return
    lost = expected - got
    assert got - expected == Counter()
    names = {name for name, _, _ in lost}
    assert names == {"intercom_conversation_started", "intercom_ai_agent_resolved"}
    bot_started = {e.at * 1000 for e in ws.truth if e.variant == "bot_started"}
    lost_started = [at for name, at, _ in lost.elements() if name.endswith("_started")]
    assert lost_started and set(lost_started) <= bot_started


def test_probes_contradict_what_a_workspace_contradicts(now: int) -> None:
    """Category names instead of terms, a `replied_at` a remark does not move, a search
    index further behind than the reconciliation window: each said, with its evidence."""
    clock = Clock(now - 2_000)
    ws = Workspace()
    with FakeIntercom(
        ws,
        token=INTERCOM_TOKEN,
        clock=clock,
        search_lag=600,
        category_names=True,
        replied_at="given",
    ) as fake:
        user = ws.add_contact(external_id="u")
        conv = ws.start_conversation(user, int(clock()))
        ws.add_ticket(user, int(clock()))
        ws.rate(conv, int(clock()) + 1, 3)
        ws.remark(conv, int(clock()) + 100, "more")
        clock.advance(1_000)
        ws.add_part(conv, int(clock()), author_type="admin", author_id="7")  # not yet indexed
        clock.advance(300)
        found = _probe(fake, int(clock()), reconcile_window=60)
    assert found["R-ticket-category"].verdict == probe.CONTRADICTED
    assert found["R-rating-times"].verdict == probe.CONTRADICTED
    assert found["R-search-lag"].verdict == probe.CONTRADICTED
    assert "at least 300 s behind" in found["R-search-lag"].evidence


def test_check_probe_exits_1_on_a_contradiction_and_0_otherwise(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    config = str(write_config(_config(fake_intercom, fake_collector, tmp_path)))
    good = cli("--config", config, "check", "--probe")
    assert good.code == 0, good.out
    assert "R-count-parts" in good.out and "confirmed" in good.out
    fake_intercom.category_names = True
    fake_intercom.workspace.version += 1  # the fake's search results are cached by version
    bad = cli("--config", config, "check", "--probe")
    assert bad.code == 1
    assert next(line for line in bad.out.splitlines() if "contradicted" in line).startswith(
        "R-ticket-category"
    )


def test_the_author_probe_names_an_author_type_the_detectors_would_not_count(now: int) -> None:
    """R-authors: a contact-opened conversation whose author type is none the detectors take
    for a contact is said, with the types seen."""
    ws = Workspace()
    user = ws.add_contact(external_id="u")
    conv = ws.start_conversation(user, now - 100)
    ws.start_conversation(user, now - 90)
    ws.conversations[conv]["source"]["author"]["type"] = "customer"
    with FakeIntercom(ws, token=INTERCOM_TOKEN) as fake:
        found = _probe(fake, now)
    assert found["R-authors"].verdict == probe.CONTRADICTED
    assert "customer 1, user 1" in found["R-authors"].evidence


# The "Accepted Fields" tables of SearchConversations and SearchTickets (2.14), as written.
CONVERSATION_FIELDS = frozenset(
    [
        "id",
        "created_at",
        "updated_at",
        "source.type",
        "source.id",
        "source.delivered_as",
        "source.subject",
        "source.body",
        "source.author.id",
        "source.author.type",
        "source.author.name",
        "source.author.email",
        "source.url",
        "contact_ids",
        "teammate_ids",
        "admin_assignee_id",
        "team_assignee_id",
        "channel_initiated",
        "open",
        "read",
        "state",
        "waiting_since",
        "snoozed_until",
        "tag_ids",
        "priority",
        "statistics.time_to_assignment",
        "statistics.time_to_admin_reply",
        "statistics.time_to_first_close",
        "statistics.time_to_last_close",
        "statistics.median_time_to_reply",
        "statistics.first_contact_reply_at",
        "statistics.first_assignment_at",
        "statistics.first_admin_reply_at",
        "statistics.first_close_at",
        "statistics.last_assignment_at",
        "statistics.last_assignment_admin_reply_at",
        "statistics.last_contact_reply_at",
        "statistics.last_admin_reply_at",
        "statistics.last_close_at",
        "statistics.last_closed_by_id",
        "statistics.count_reopens",
        "statistics.count_assignments",
        "statistics.count_conversation_parts",
        "conversation_rating.requested_at",
        "conversation_rating.replied_at",
        "conversation_rating.score",
        "conversation_rating.remark",
        "conversation_rating.contact_id",
        "conversation_rating.admin_d",
        "ai_agent_participated",
        "ai_agent.resolution_state",
        "ai_agent.last_answer_type",
        "ai_agent.rating",
        "ai_agent.rating_remark",
        "ai_agent.source_type",
        "ai_agent.source_title",
    ]
)
TICKET_FIELDS = frozenset(
    [
        "id",
        "created_at",
        "updated_at",
        "title",
        "description",
        "category",
        "ticket_type_id",
        "contact_ids",
        "teammate_ids",
        "admin_assignee_id",
        "team_assignee_id",
        "open",
        "state",
        "snoozed_until",
    ]
)


def _fields(query: object) -> set[str]:
    if not isinstance(query, dict):
        return set()
    if query.get("operator") in ("AND", "OR"):
        return set().union(*(_fields(q) for q in query["value"]))
    return {str(query.get("field"))}


def test_every_search_field_is_in_the_accepted_fields_tables(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """R-search-fields: what a catch-up with every goal kind and option on, each goal with a
    `where` pushed into its search, and the probes, search is each in the table of its
    resource."""
    own = {  # each kind's options, all on
        "conversation_started": "bot_started = true\n",
        "user_messaged": "quick_replies = true\n",
        "ticket_created": 'categories = ["Customer", "Back-office", "Tracker"]\n',
        "ai_agent_resolved": 'resolutions = "assumed"\n',
    }
    assert set(own) <= set(kinds.BY_NAME)
    options = ""
    for kind in kinds.KINDS:
        # Conversations' goals push a `where` on the source into their search (R-filter-pushdown).
        pushed = kinds.CONVERSATION in kind.subjects
        where = 'conversation.source.type = { ne = "email" }' if pushed else "contact.role = "
        where += "" if pushed else '["user", "lead"]'
        options += f'[[goal]]\nkind = "{kind.name}"\nname = "every_{kind.name}"\n'
        options += f"where.{where}\n{own.get(kind.name, '')}\n"
    config = str(write_config(_config(fake_intercom, fake_collector, tmp_path, extra=options)))
    assert cli("--config", config, "sync", "--since", iso(now - 9 * DAY)).code == 0
    assert cli("--config", config, "check", "--probe").code == 0
    searched: dict[str, set[str]] = {"/conversations/search": set(), "/tickets/search": set()}
    for request in fake_intercom.requests:
        if request.path in searched:
            searched[request.path] |= _fields(request.body["query"])
    assert searched["/conversations/search"] <= CONVERSATION_FIELDS, searched
    assert searched["/tickets/search"] <= TICKET_FIELDS, searched
    every = {"conversation_rating.replied_at", "statistics.last_close_at", "source.type"}
    every |= {"ai_agent.resolution_state", "statistics.first_contact_reply_at"}
    assert every <= searched["/conversations/search"], searched
    assert "category" in searched["/tickets/search"]  # the probe's term search


def test_the_daemon_probes_at_start_and_says_what_is_contradicted(
    fake_intercom: FakeIntercom, fake_collector: FakeCollector, tmp_path: Path
) -> None:
    """`syncer run` against a workspace whose ticket search matches names: a warning names
    the entry, and `syncer_assumption_contradicted` is 1 for it and 0 for the others."""
    from tests.conftest import wait_until
    from tests.test_daemon import Daemon
    from tests.test_monitoring import free_port, get, samples

    fake_intercom.category_names = True
    port = free_port()
    path = tmp_path / "syncer.toml"
    path.write_text(
        _config(
            fake_intercom, fake_collector, tmp_path, f'[metrics]\nlisten = "127.0.0.1:{port}"\n'
        )
    )
    daemon = Daemon(path, None, tmp_path / "daemon.log")
    try:
        found: dict = {}

        def probed() -> bool:
            try:
                found.update(samples(get(f"http://127.0.0.1:{port}/metrics")[1]))
            except OSError:
                return False
            return ("syncer_assumption_contradicted", (("entry", "R-merged-contacts"),)) in found

        assert wait_until(probed, 60), Path(daemon.log.name).read_text()
    finally:
        daemon.close()
    metric = "syncer_assumption_contradicted"
    assert found[(metric, (("entry", "R-ticket-category"),))] == 1
    assert found[(metric, (("entry", "R-search-bounds"),))] == 0
    log = Path(daemon.log.name).read_text()
    assert "probe R-ticket-category contradicted" in log


# -- R-search-fields, R-search-operators: the fake's tables ----------------------------------


def test_the_fakes_search_tables_are_the_accepted_fields_tables() -> None:
    """The fake refuses what these copies of the 2.14 tables leave out, and nothing else:
    its tables are the same fields (tickets' `ticket_attribute.{id}` is a pattern)."""
    from syncer.testing import searchlang

    assert set(searchlang.CONVERSATION_FIELDS) == CONVERSATION_FIELDS
    assert set(searchlang.TICKET_FIELDS) == TICKET_FIELDS
    assert searchlang.field_type("tickets", "ticket_attribute.7") == searchlang.ANY
    for name in ("ticket_attribute.", "tag_ids", "conversation_rating.score"):
        assert searchlang.field_type("tickets", name) is None


# -- the register: every entry the code cites is there -----------------------------------------


def test_every_entry_the_code_cites_is_in_the_register() -> None:
    """A comment citing `R-...` names a row of docs/intercom-assumptions.md."""
    import re

    root = Path(__file__).resolve().parent.parent
    register = (root / "docs" / "intercom-assumptions.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| (R-[a-z0-9-]+) \|", register, flags=re.MULTILINE))
    cited = {
        entry: path.name
        for path in (root / "syncer").rglob("*.py")
        for entry in re.findall(r"\bR-[a-z0-9]+(?:-[a-z0-9]+)*", path.read_text(encoding="utf-8"))
    }
    assert len(rows) > 30
    assert {e: where for e, where in cited.items() if e not in rows} == {}
