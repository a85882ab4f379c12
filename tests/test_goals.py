"""Goals as rules: several goals per kind, each with its own `where`, against the fake.

The expected deliveries are computed here from the workspace as the test built it (who was
tagged, which plan, which score), never by the syncer's filter code.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace
from tests.conftest import config_text

SINCE = "2000-01-01"


@pytest.fixture
def empty() -> Workspace:
    return Workspace()


@pytest.fixture
def intercom(empty: Workspace) -> FakeIntercom:
    from tests.conftest import INTERCOM_TOKEN

    with FakeIntercom(empty, token=INTERCOM_TOKEN) as fake:
        yield fake  # type: ignore[misc]


RULES = """
[[goal]]
kind = "conversation_started"
name = "all_started"

[[goal]]
kind = "conversation_started"
name = "billing_started"
where.conversation.tags = "Billing"

[[goal]]
kind = "conversation_started"
name = "vip_started"
where.contact.custom_attributes.tier = "vip"

[[goal]]
kind = "conversation_started"
name = "enterprise_started"
where.company.plan = ["Enterprise", "Scale"]

[[goal]]
kind = "conversation_rated"
name = "low_rating"
where.rating.score = { lte = 2 }
"""


def _deliveries(collector: FakeCollector) -> Counter[tuple[str, int, str]]:
    return Counter((name, at, units[0][1]) for name, at, units in collector.goal_keys())


def test_goals_on_one_kind_deliver_exactly_what_each_filter_admits(
    intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Four goals on conversation_started and one on ratings: a tag added after the event,
    a contact attribute, a company plan (any of the contact's companies), a score <= 2;
    each goal gets exactly the events its filter admits, under its own name; the rest are
    recorded as filtered with the reason."""
    ws = intercom.workspace
    billing = ws.add_tag("Billing")
    ws.add_tag("Other")
    enterprise = ws.add_company("Big", plan="Enterprise")
    small = ws.add_company("Small", plan="Starter")
    t0 = now - 80_000
    people = {
        "vip-ent": ws.add_contact(
            external_id="vip-ent", custom={"tier": "vip"}, companies=[small, enterprise]
        ),
        "plain": ws.add_contact(external_id="plain", custom={"tier": "basic"}, company=small),
        "lone": ws.add_contact(external_id="lone"),
    }
    expected: Counter[tuple[str, int, str]] = Counter()
    for i, (uid, contact) in enumerate(people.items()):
        for j, tagged in enumerate((True, False)):
            at = t0 + 100 * (2 * i + j)
            conv = ws.start_conversation(contact, at)
            if tagged:  # tagged an hour after it started, before the sync reads it
                ws.tag_conversation(conv, billing, at + 3_600)
            score = 1 + (2 * i + j) % 5
            ws.rate(conv, at + 50, score)
            expected[("all_started", at * 1000, uid)] += 1
            if tagged:
                expected[("billing_started", at * 1000, uid)] += 1
            if uid == "vip-ent":
                expected[("vip_started", at * 1000, uid)] += 1
                expected[("enterprise_started", at * 1000, uid)] += 1
            if score <= 2:
                expected[("low_rating", (at + 50) * 1000, uid)] += 1
    config = write_config(
        config_text(intercom.url, tmp_path / "s.db", collector_url=fake_collector.url, extra=RULES)
    )
    result = cli("--config", str(config), "sync", "--since", SINCE)
    assert result.code == 0, result.err
    assert _deliveries(fake_collector) == expected
    status = json.loads(cli("--config", str(config), "status", "--json").out)
    # 6 starts x 4 goals + 6 ratings x 1 goal, each one row: sent or filtered.
    assert status["outbox"]["sent"] == sum(expected.values())
    assert status["outbox"]["filtered"] == 6 * 4 + 6 - sum(expected.values())
    reasons = {r["reason"]: r["count"] for r in status["filtered_reasons"]}
    assert reasons["billing_started: where conversation.tags = 'Billing' (found [])"] == 3
    assert any(r.startswith("low_rating: where rating.score <= 2 (found ") for r in reasons)
    # Again: nothing new, nothing sent twice.
    again = cli("--config", str(config), "sync", "--since", SINCE)
    assert again.code == 0, again.err
    assert _deliveries(fake_collector) == expected


def test_a_pushed_down_filter_and_a_read_time_one_agree_with_a_reference_evaluation(
    intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """`conversation.source.type` goes into the search (it never changes, and is searchable);
    `conversation.priority` is checked on the object. Both deliver what a plain reading of
    the fake's conversations says, and the search the scan sent holds the one and not the
    other."""
    ws = intercom.workspace
    user = ws.add_contact(external_id="u1")
    t0 = now - 50_000
    for i in range(12):
        conv = ws.start_conversation(user, t0 + 10 * i)
        if i % 3 == 0:
            ws.conversations[conv]["source"]["type"] = "email"
        if i % 2 == 0:
            ws.set_priority(conv, t0 + 10 * i + 1, "priority")
    rules = """
[[goal]]
kind = "conversation_started"
name = "email_started"
where.conversation.source.type = "email"

[[goal]]
kind = "conversation_started"
name = "email_priority"
where.conversation.source.type = "email"
where.conversation.priority = "priority"
"""
    config = write_config(
        config_text(intercom.url, tmp_path / "s.db", collector_url=fake_collector.url, extra=rules)
    )
    result = cli("--config", str(config), "sync", "--since", SINCE)
    assert result.code == 0, result.err
    reference: Counter[tuple[str, int, str]] = Counter()
    for conv in ws.conversations.values():
        if conv["source"]["type"] == "email":
            reference[("email_started", conv["created_at"] * 1000, "u1")] += 1
            if conv["priority"] == "priority":
                reference[("email_priority", conv["created_at"] * 1000, "u1")] += 1
    assert _deliveries(fake_collector) == reference
    searches = [r for r in intercom.requests if r.path == "/conversations/search"]
    bodies = [json.dumps(r.body) for r in searches]
    assert bodies and all('"source.type"' in b for b in bodies)
    assert not any('"priority"' in b for b in bodies)


def test_changed_filters_and_refilter_re_evaluate_what_is_not_yet_sent(
    intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Stored (Collector down: nothing sent), then the filter changes: `outbox resolve
    --refilter` makes the newly admitted events pending and the newly rejected filtered,
    without reading the conversations again."""
    ws = intercom.workspace
    user = ws.add_contact(external_id="u1", custom={"tier": "vip"})
    other = ws.add_contact(external_id="u2", custom={"tier": "basic"})
    for i, contact in enumerate((user, other, user)):
        ws.start_conversation(contact, now - 40_000 + i)
    rule = '[[goal]]\nkind = "conversation_started"\nname = "tiered"\n'
    first = rule + 'where.contact.custom_attributes.tier = "vip"\n'
    text = config_text(intercom.url, tmp_path / "s.db", extra=first)  # no Collector: all wait
    config = write_config(text)
    cli("--config", str(config), "sync", "--since", SINCE)
    counts = json.loads(cli("--config", str(config), "status", "--json").out)["outbox"]
    assert (counts["pending"], counts["filtered"]) == (2, 1)
    write_config(text.replace(first, rule + 'where.contact.custom_attributes.tier = "basic"\n'))
    fetched = intercom.calls()["GET /conversations/{id}"]
    result = cli("--config", str(config), "outbox", "resolve", "--refilter")
    assert result.code == 0, result.err
    assert "1 pending (was 2), 2 filtered (was 1)" in result.out
    counts = json.loads(cli("--config", str(config), "status", "--json").out)["outbox"]
    assert (counts["pending"], counts["filtered"]) == (1, 2)
    assert intercom.calls()["GET /conversations/{id}"] == fetched


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            'where.conversation.colour = "red"',
            "goal[1].where.conversation.colour: unknown filter field",
        ),
        (
            "where.conversation.priority = { gt = 2 }",
            "goal[1].where.conversation.priority.gt: 'gt' does not fit conversation.priority",
        ),
        (
            'where.rating.score = { contains = "2" }',
            "goal[1].where.rating.score: conversation_started events have no rating.score",
        ),
        (
            'where.conversation.state = "shut"',
            "goal[1].where.conversation.state: 'shut' is not a value of conversation.state",
        ),
        (
            "where.contact.tags = { around = 1 }",
            "goal[1].where.contact.tags.around: unknown operator 'around'",
        ),
    ],
)
def test_a_bad_filter_is_one_line_naming_the_goal_and_the_field(
    where: str,
    message: str,
    intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    rule = f'[[goal]]\nkind = "conversation_started"\nname = "g"\n{where}\n'
    config = write_config(config_text(intercom.url, tmp_path / "s.db", extra=rule))
    result = cli("--config", str(config), "sync", "--since", SINCE)
    assert result.code == 2
    assert result.err.startswith(f"syncer: {message}"), result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "s.db").exists()


def test_a_tag_name_the_workspace_lacks_is_named_at_check_with_what_exists(
    intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    intercom.workspace.add_tag("Billing")
    intercom.workspace.add_tag("Refund")
    rule = '[[goal]]\nkind = "conversation_started"\nname = "g"\nwhere.conversation.tags = "Bill"\n'
    config = write_config(config_text(intercom.url, tmp_path / "s.db", extra=rule))
    result = cli("--config", str(config), "check")
    assert result.code == 2
    line = [x for x in result.err.splitlines() if "Bill" in x]
    assert line == [
        "syncer: goal g: where conversation.tags: no tag 'Bill' in the workspace "
        "(its tags: Billing, Refund)"
    ], result.err


def test_the_older_goals_tables_and_rules_together_are_refused_showing_the_new_form(
    intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    both = RULES + '\n[goals.user_messaged]\nname = "m"\n'
    config = write_config(config_text(intercom.url, tmp_path / "s.db", extra=both))
    result = cli("--config", str(config), "check")
    assert result.code == 2
    assert result.err.startswith(
        "syncer: goals.user_messaged: with [[goal]] rules, write every goal as one: "
        '[[goal]] kind = "user_messaged"'
    ), result.err


def test_segments_cost_one_call_per_contact_and_a_contact_beyond_ten_tags_is_read_whole(
    intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Two goals on segments, three conversations each from two contacts: one segments
    lookup per contact (cached for contact_ttl). A contact with 12 tags (the object lists
    10) is matched on the twelfth, read from its own tag list."""
    ws = intercom.workspace
    trial = ws.add_segment("Trial users")
    ws.add_segment("Paid")
    tags = [ws.add_tag(f"tag {i}") for i in range(12)]
    first = ws.add_contact(external_id="first")
    second = ws.add_contact(external_id="second")
    ws.put_in_segment(first, trial)
    for tag in tags:
        ws.tag_contact(second, tag)
    for i in range(3):
        ws.start_conversation(first, now - 9_000 + i)
        ws.start_conversation(second, now - 8_000 + i)
    rules = """
[[goal]]
kind = "conversation_started"
name = "trial"
where.contact.segments = "Trial users"

[[goal]]
kind = "conversation_started"
name = "not_paid"
where.contact.segments = { ne = "Paid" }
"""
    config = write_config(
        config_text(intercom.url, tmp_path / "s.db", collector_url=fake_collector.url, extra=rules)
    )
    result = cli("--config", str(config), "sync", "--since", SINCE)
    assert result.code == 0, result.err
    names = Counter(name for name, _, _ in fake_collector.goal_keys())
    assert names == {"trial": 3, "not_paid": 6}
    calls = intercom.calls()
    assert calls["GET /contacts/{id}/segments"] == 2
    assert calls["GET /contacts/{id}"] == 0  # segments need no contact lookup
    tagged = '[[goal]]\nkind = "conversation_started"\nname = "twelfth_tag"\n'
    tagged += 'where.contact.tags = "tag 11"\n'
    config = write_config(
        config_text(intercom.url, tmp_path / "t.db", collector_url=fake_collector.url, extra=tagged)
    )
    result = cli("--config", str(config), "sync", "--since", SINCE)
    assert result.code == 0, result.err
    names = Counter(name for name, _, _ in fake_collector.goal_keys())
    assert names == {"trial": 3, "not_paid": 6, "twelfth_tag": 3}
    calls = intercom.calls()
    assert calls["GET /contacts/{id}/tags"] == 1  # only the contact whose list has more
    assert calls["GET /tags"] == 1


def test_dry_run_shows_each_events_goals_and_counts_the_filtered(
    intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """One line per goal event, carrying its event's key, so an event's goals group; the
    summary counts what each goal's filter rejected, with the reason."""
    ws = intercom.workspace
    ws.add_tag("Billing")
    vip = ws.add_contact(external_id="vip", custom={"tier": "vip"})
    plain = ws.add_contact(external_id="plain", custom={"tier": "basic"})
    vip_conv = ws.start_conversation(vip, now - 5_000)
    ws.start_conversation(plain, now - 4_000)
    rules = RULES.split('[[goal]]\nkind = "conversation_rated"')[0]
    config = write_config(config_text(intercom.url, tmp_path / "s.db", extra=rules))
    result = cli("--config", str(config), "sync", "--since", SINCE, "--dry-run")
    assert result.code == 0, result.err
    by_event: dict[str, set[str]] = {}
    for line in result.out.splitlines():
        goal = json.loads(line)
        by_event.setdefault(goal["event"], set()).add(goal["name"])
    assert by_event[f"conversation:{vip_conv}:started"] == {"all_started", "vip_started"}
    assert len(by_event) == 2
    assert "5 filtered" in result.err  # 2 events x 4 goals, 3 admitted
    assert (
        "filtered: 1 x vip_started: where contact.custom_attributes.tier = 'vip' "
        "(found 'basic')" in result.err
    )
    assert not (tmp_path / "s.db").exists()
