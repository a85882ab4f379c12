"""Nothing blocks: one object whose request keeps failing, one scan that fails every cycle,
one string no UTF-8 store can hold, never hold back any other event, and nothing is lost: a
parked object is delivered once its fault clears."""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from syncer.daemon import run_cycle
from syncer.intercom.client import IntercomClient
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace
from tests.conftest import config_text
from tests.test_cycle import cycle_context
from tests.truth import expected_deliveries

SINCE = "2000-01-01"


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """The transport's retries go on without their real backoff (8 attempts are ~60 s)."""
    quick = functools.partial(IntercomClient, sleep=lambda _: None)
    monkeypatch.setattr("syncer.runtime.IntercomClient", quick)


def messages_of(ws: Workspace, conv_id: str) -> set[str]:
    """The keys of the contact's messages in one conversation (they need its GET)."""
    parts = {p["id"] for p in ws.conversations[conv_id]["conversation_parts"]["conversation_parts"]}
    return {
        f"{e.key}@intercom_user_messaged"
        for e in ws.truth
        if e.key == f"conversation:{conv_id}:opening" or e.key.removeprefix("part:") in parts
    }


def without(ws: Workspace, expected: Counter, keys: set[str]) -> Counter:
    """`expected` less the goals of these truth keys."""
    gone = Counter(
        (name, at, units) for key, (name, at, units) in _by_key(ws).items() if key in keys
    )
    return expected - gone


def _by_key(ws: Workspace) -> dict[str, tuple[str, int, tuple[tuple[str, str], ...]]]:
    from tests.truth import expected_goals

    return {
        key: (name, at, (("user_id", uid),))
        for key, (name, at, uid) in expected_goals(ws, 0, 2**40).items()
    }


def a_conversation_with_replies(ws: Workspace) -> str:
    """A conversation of a user with an external_id where the contact wrote a part."""
    for conv_id, conv in ws.conversations.items():
        contact = ws.contacts.get(conv["contacts"]["contacts"][0]["id"], {})
        parts = conv["conversation_parts"]["conversation_parts"]
        if contact.get("external_id") and any(p["author"]["type"] == "user" for p in parts):
            return conv_id
    raise AssertionError("the generated workspace has such a conversation")


def test_a_conversation_that_always_answers_500_is_parked_and_the_rest_delivered(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
    report: Callable[..., None],
) -> None:
    """A catch-up over hundreds of conversations, one of which answers 500 to every GET:
    every other goal is delivered, `sync` exits 1 naming it, `status` shows it parked with
    its request; once the fault is lifted, the next run delivers its goals, nothing twice."""
    ws = fake_intercom.workspace
    bad = a_conversation_with_replies(ws)
    fake_intercom.fail(500, times=10**6, method="GET", path_prefix=f"/conversations/{bad}?")
    config = str(
        write_config(
            config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
        )
    )
    first = cli("--config", config, "sync", "--since", SINCE)
    assert first.code == 1
    assert "1 object parked (their requests keep failing" in first.err
    expected = expected_deliveries(ws, 0, now)
    held = messages_of(ws, bad)
    assert held
    assert Counter(fake_collector.goal_keys()) == without(ws, expected, held)
    status = json.loads(cli("--config", config, "status", "--json").out)
    assert status["parked"] == 1
    [row] = [
        json.loads(line)
        for line in cli("--config", config, "parked", "list", "--json").out.splitlines()
    ]
    assert row["request"] == f"GET /conversations/{bad}"
    assert row["reason"] == f"Intercom answered 500 (server_error) to GET /conversations/{bad}"

    fake_intercom.faults.clear()
    second = cli("--config", config, "sync", "--since", SINCE)
    assert second.code == 0, second.err
    got = Counter(fake_collector.goal_keys())
    report("one conversation answers 500 until lifted", 2, expected, got)
    assert got == expected
    assert json.loads(cli("--config", config, "status", "--json").out)["parked"] == 0


def test_the_daemon_delivers_every_cycle_while_one_conversation_keeps_failing(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
) -> None:
    """Across cycles with one conversation failing, each cycle's new goals go out in that
    cycle; the parked conversation is retried with backoff and delivered once it reads."""
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="steady")
    path = write_config(
        config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
    )
    with cycle_context(path) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        bad = ws.start_conversation(user, t0 + 1)
        ws.add_part(bad, t0 + 2, author_type="user", author_id=user)
        fake_intercom.fail(500, times=10**6, method="GET", path_prefix=f"/conversations/{bad}?")
        sent = []
        for cycle in range(1, 5):
            ws.start_conversation(user, t0 + 10 * cycle)  # new activity every cycle
            report = run_cycle(ctx, pub, now=t0 + 10 * cycle + 5)
            sent.append(report.sent)
        fake_intercom.faults.clear()
        healed = run_cycle(ctx, pub, now=t0 + 3_700)  # past the parked object's backoff
    assert sent[0] == 3  # the bad conversation's "started", and one new conversation's two
    assert sent[1:] == [2, 2, 2]
    assert healed.parked.read == 1
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, t0, t0 + 3_700)


def test_a_contact_lookup_that_keeps_failing_holds_back_only_its_own_events(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Units from email need `GET /contacts/{id}`; one contact's lookup fails every time:
    its events wait (unattributed, parked), everyone else's are delivered; once it answers,
    the next run delivers them."""
    ws = fake_intercom.workspace
    victim = ws.add_contact(external_id="v", email="victim@example.com")
    ws.start_conversation(victim, now - 100)
    fake_intercom.fail(503, times=10**6, method="GET", path_prefix=f"/contacts/{victim}")
    units = '[[units]]\ntype = "user_id"\nfrom = "email"\n'
    text = config_text(
        fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url, units=units
    )
    config = str(write_config(text))
    assert cli("--config", config, "sync", "--since", SINCE).code == 1
    expected = expected_deliveries(ws, 0, now, field="email")
    victims = Counter(k for k in expected if k[2] == (("user_id", "victim@example.com"),))
    assert sum(victims.values()) == 2
    assert Counter(fake_collector.goal_keys()) == expected - victims
    status = json.loads(cli("--config", config, "status", "--json").out)
    assert status["parked_reasons"][0]["kind"] == "contact"
    fake_intercom.faults.clear()
    assert cli("--config", config, "sync", "--since", SINCE).code == 0
    assert Counter(fake_collector.goal_keys()) == expected


def test_one_scan_failing_every_cycle_does_not_stop_the_others_or_delivery(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
) -> None:
    """Ticket search answers 500 every time: conversation goals are still read and sent each
    cycle, the cycle reports the failure, and the ticket cursor stays where it was."""
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="t-user")
    path = write_config(
        config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
    )
    with cycle_context(path) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        fake_intercom.fail(500, times=10**6, path_prefix="/tickets/search")
        reports = []
        for cycle in range(1, 4):
            ws.start_conversation(user, t0 + 10 * cycle)
            ws.add_ticket(user, t0 + 10 * cycle)
            reports.append(run_cycle(ctx, pub, now=t0 + 10 * cycle + 5))
        fake_intercom.faults.clear()
        run_cycle(ctx, pub, now=t0 + 100)
    assert [r.sent for r in reports] == [2, 2, 2]
    assert all(r.failures and "ticket_created" in r.failures[0] for r in reports)
    assert not all(r.complete for r in reports)
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, t0, t0 + 100)


@pytest.fixture
def surrogates(fake_intercom: FakeIntercom, now: int) -> str:
    """A contact whose name, and whose message, hold a lone UTF-16 surrogate."""
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="odd", email="odd@example.com", name="Ann \ud800 Lee")
    conv = ws.start_conversation(user, now - 100)
    ws.conversations[conv]["source"]["body"] = "<p>\udfff</p>"
    ws.add_part(conv, now - 50, author_type="user", author_id=user, body="<p>hi \ud83d</p>")
    return user


def test_a_lone_surrogate_is_stored_and_sent_as_a_replacement_character(
    surrogates: str,
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Legal JSON that no UTF-8 store holds: the name is a goal property, the body a
    message; everything is delivered, the property with U+FFFD in place of the surrogate,
    and a dry run prints it too."""
    props = '[goals.conversation_started.properties]\nuser_name = "contact.name"\n'
    text = config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
    config = str(write_config(text + props))
    dry = cli("--config", config, "sync", "--since", SINCE, "--dry-run")
    assert dry.code == 0, dry.err
    assert "Ann \ufffd Lee" in dry.out
    result = cli("--config", config, "sync", "--since", SINCE)
    assert result.code == 0, result.err
    names = [g.properties for g in fake_collector.accepted if g.units == (("user_id", "odd"),)]
    assert {"user_name": "Ann \ufffd Lee"} in names
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(
        fake_intercom.workspace, 0, now
    )


def test_a_bounded_catchup_in_the_past_leaves_the_daemon_to_start_at_sync_start(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """On a fresh database with `start = "now"`, `sync --since A --until B` (in the past)
    creates no daemon cursor: the next `run --once` reads from now and sends no history."""
    config = str(
        write_config(
            config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
        )
    )
    since, until = now - 8 * 86_400, now - 5 * 86_400
    iso = functools.partial(time.strftime, "%Y-%m-%dT%H:%M:%SZ")
    args = ("sync", "--since", iso(time.gmtime(since)), "--until", iso(time.gmtime(until)))
    assert cli("--config", config, *args).code == 0
    ws = fake_intercom.workspace
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, since, until)
    status = json.loads(cli("--config", config, "status", "--json").out)
    assert status["cursors"] == []
    assert cli("--config", config, "run", "--once").code == 0
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(ws, since, until)
    status = json.loads(cli("--config", config, "status", "--json").out)
    assert {c["floor_iso"][:13] for c in status["cursors"]} == {iso(time.gmtime(now))[:13]}


def test_an_unreadable_object_is_counted_once_however_often_it_is_read(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """A conversation with a part whose time is no time, read by two runs over the same
    window: one skipped object, named by its conversation, not two."""
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="r")
    conv = ws.start_conversation(user, now - 100)
    part = ws.add_part(conv, now - 50, author_type="user", author_id=user)
    ws.conversations[conv]["conversation_parts"]["conversation_parts"][-1]["created_at"] = "x"
    config = str(
        write_config(
            config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
        )
    )
    for _ in range(2):
        cli("--config", config, "sync", "--since", SINCE)
    status = json.loads(cli("--config", config, "status", "--json").out)
    assert status["skipped_objects"] == 1
    assert status["last_skip"].startswith(f"user_messaged: conversation '{conv}'")
    assert f"'{part}'" in status["last_skip"]
