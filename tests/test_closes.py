"""`conversation_closed` from the conversation's state (register R-close-state): a part of
any type that turns `state` closed, a `close` part, or a move of `statistics.last_close_at`
that no part shows; each close once. Expected closes come from the parts as written here or
from the fake workspace's own record of each close (`Workspace.truth`), never from the
detector."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncer.daemon import run_cycle
from syncer.detect import Window, conversation_closed
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import INTERCOM_TOKEN, config_text
from tests.test_cycle import cycle_context
from tests.truth import expected_deliveries

ALL = Window(0, 10**10)
CLOSES = '[[goal]]\nkind = "conversation_closed"\nname = "intercom_conversation_closed"\n'


def part(
    pid: str, part_type: str, at: int, state: str | None, author: str = "admin"
) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "type": "conversation_part",
        "id": pid,
        "part_type": part_type,
        "created_at": at,
        "author": {"type": author, "id": "7"},
    }
    if state is not None:
        shown["state"] = state
    return shown


def conversation(*parts: dict[str, Any], last_close_at: int | None = None) -> dict[str, Any]:
    return {
        "type": "conversation",
        "id": "c1",
        "created_at": 1_000,
        "source": {"author": {"type": "user", "id": "u1"}},
        "statistics": {"last_close_at": last_close_at},
        "conversation_parts": {"conversation_parts": list(parts)},
    }


def closes(conv: dict[str, Any], window: Window = ALL) -> list[tuple[str, int]]:
    return [(e.key, e.achieved_at // 1000) for e in conversation_closed(conv, window)]


def test_the_specs_own_example_a_custom_action_that_leaves_it_closed_is_a_close() -> None:
    """retrieveConversation's 2.14 example: `state: closed`, last part
    `custom_action_finished` with `state: closed`, no `close` part, `statistics` empty. The
    close is that part, at its time."""
    conv = conversation(
        part("1", "comment", 1_663_597_223, "open"),
        part("2", "custom_action_started", 1_740_141_842, "open"),
        part("3", "conversation_attribute_updated_by_admin", 1_740_141_851, "open", "bot"),
        part("4", "custom_action_finished", 1_740_141_857, "closed"),
    )
    conv["statistics"] = None
    assert closes(conv) == [("conversation:c1:closed:4", 1_740_141_857)]


def test_a_close_part_keeps_its_key_and_the_state_after_it_adds_nothing() -> None:
    """Real payloads: the close part turns `state` closed, and the parts after it (a rating
    request, a note) show closed too; `last_close_at` equals the part's time. One close,
    keyed by the close part as earlier versions keyed it."""
    conv = conversation(
        part("1", "comment", 100, "open", "user"),
        part("2", "close", 200, "closed", "bot"),
        part("3", "note", 210, "closed"),
        last_close_at=200,
    )
    [event] = conversation_closed(conv, ALL)
    assert (event.key, event.achieved_at, event.facts["closed.by"]) == (
        "conversation:c1:closed:2",
        200_000,
        "bot",
    )


def test_each_reopen_and_close_is_counted_once_whichever_part_shows_it() -> None:
    """Closed by a workflow's part (its state turns closed), reopened by the contact, closed
    by an admin's `close` part, reopened, closed by a part whose state turns closed, the
    statistics naming the last: three closes, each once, at its own part's time."""
    conv = conversation(
        part("1", "comment", 100, "open", "user"),
        part("2", "workflow_finished", 200, "closed", "bot"),
        part("3", "note", 205, "closed"),
        part("4", "open", 300, "open", "user"),
        part("5", "close", 400, "closed"),
        part("6", "open", 500, "open", "user"),
        part("7", "comment", 550, "open"),
        part("8", "custom_action_finished", 600, "closed"),
        last_close_at=600,
    )
    assert closes(conv) == [
        ("conversation:c1:closed:2", 200),
        ("conversation:c1:closed:5", 400),
        ("conversation:c1:closed:8", 600),
    ]
    assert closes(conv, Window(300, 450)) == [("conversation:c1:closed:5", 400)]


def test_a_part_that_turned_it_closed_and_a_close_part_after_it_are_one_close() -> None:
    """A stretch that a part of another type turned closed and that a `close` part closes
    again is one close, the close part's (the key an earlier version sent: not twice)."""
    conv = conversation(
        part("1", "custom_action_finished", 200, "closed"),
        part("2", "close", 205, "closed"),
        last_close_at=205,
    )
    assert closes(conv) == [("conversation:c1:closed:2", 205)]


def test_parts_without_a_state_change_it_by_their_type() -> None:
    """manageConversation's close example shows no `state` on its part: a `close` part is a
    close, an `open` part reopens; a comment without a state changes nothing."""
    conv = conversation(
        part("1", "close", 200, None),
        part("2", "comment", 250, None),
        part("3", "open", 300, None, "user"),
        part("4", "close", 400, None),
        last_close_at=400,
    )
    assert closes(conv) == [("conversation:c1:closed:1", 200), ("conversation:c1:closed:4", 400)]


def test_a_reopen_part_that_shows_closed_still_reopens() -> None:
    """Under the other reading of `state` (the state before the part), a reopen shows
    `closed` and the close part `open`: each close is still counted once."""
    conv = conversation(
        part("1", "comment", 100, "open", "user"),
        part("2", "close", 200, "open"),
        part("3", "open", 300, "closed", "user"),
        part("4", "close", 400, "open"),
        part("5", "note", 410, "closed"),
    )
    assert closes(conv) == [("conversation:c1:closed:2", 200), ("conversation:c1:closed:4", 400)]


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (None, []),
        (200, []),  # the close part's own time
        (203, []),  # a few seconds off, still inside the closed stretch: the same close
        (350, []),  # inside a stretch no reopen ended: a close of a closed conversation
        (150, []),  # before the parts' close: stale, the part says more
    ],
)
def test_last_close_at_inside_what_the_parts_show_adds_nothing(
    last: int | None, expected: list[tuple[str, int]]
) -> None:
    conv = conversation(
        part("1", "comment", 100, "open", "user"),
        part("2", "close", 200, "closed"),
        part("3", "note", 300, "closed"),
        last_close_at=last,
    )
    assert closes(conv) == [("conversation:c1:closed:2", 200), *expected]


def test_a_close_no_part_shows_is_dated_by_last_close_at() -> None:
    """Closed again after the parts' last reopen, or closed with no closing part at all:
    `last_close_at` is the close, keyed by its time."""
    reopened = conversation(
        part("1", "close", 200, "closed"),
        part("2", "open", 300, "open", "user"),
        last_close_at=360,
    )
    assert closes(reopened) == [
        ("conversation:c1:closed:1", 200),
        ("conversation:c1:closed:at:360", 360),
    ]
    assert closes(conversation(part("1", "comment", 100, "open", "user"), last_close_at=150)) == [
        ("conversation:c1:closed:at:150", 150)
    ]
    assert closes(conversation(last_close_at=150), Window(151, 400)) == []


def test_a_close_beyond_the_500_parts_returned_is_not_guessed() -> None:
    """Intercom returned its newest 500 parts and `last_close_at` predates them: the part
    that showed it is unread (a close seen before under its part's key is not sent again
    under its time)."""
    for state in ("open", "closed"):  # the oldest part shown is not where it closed
        later = [part(str(i), "note", 1_000 + i, state) for i in range(500)]
        assert closes(conversation(*later, last_close_at=900)) == []
    later = [part(str(i), "note", 1_000 + i, "open") for i in range(499)]
    assert closes(conversation(*later, last_close_at=900)) == [
        ("conversation:c1:closed:at:900", 900)
    ]


def test_the_daemon_counts_closes_by_state_and_by_last_close_at_once_each(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """Live, over several cycles: a close by a `custom_action_finished` part whose state turns
    closed yields its goal at that part's time; reopened and closed by an admin's `close`
    part, reopened and closed with no part at all (only `last_close_at` moves): three
    goals, each once, at its own time, however often the conversation is read again."""
    ws = fake_intercom.workspace
    path = write_config(
        config_text(
            fake_intercom.url,
            tmp_path / "s.db",
            collector_url=fake_collector.url,
            extra=CLOSES,
        )
    )
    user = ws.add_contact(external_id="closes")
    with cycle_context(path) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        conv = ws.start_conversation(user, t0 + 1)
        ws.add_part(conv, t0 + 2, author_type="admin", author_id="7")
        ws.close_by_part(conv, t0 + 3, "custom_action_finished")
        run_cycle(ctx, pub, now=t0 + 20)
        ws.reopen(conv, t0 + 30)
        ws.close(conv, t0 + 40)
        run_cycle(ctx, pub, now=t0 + 60)
        ws.reopen(conv, t0 + 70)
        ws.close_unseen(conv, t0 + 80)
        run_cycle(ctx, pub, now=t0 + 100)
        run_cycle(ctx, pub, now=t0 + 200)
    got = Counter(fake_collector.goal_keys())
    assert got == expected_deliveries(ws, t0, t0 + 200, kinds=frozenset({"conversation_closed"}))
    assert sorted(at // 1000 - t0 for _, at, _ in got.elements()) == [3, 40, 80]


def test_the_probe_confirms_closes_shown_by_parts_and_says_which_are_not(now: int) -> None:
    """`check --probe`: recently closed conversations show their close at `last_close_at` by
    a part (here a `close` part and a `custom_action_finished`); one closed with no part is
    said, naming it, and counted at `last_close_at`."""
    from syncer import probe
    from syncer.testing.workspace import Workspace
    from tests.test_assumptions import _probe

    ws = Workspace(all_fields=True)
    user = ws.add_contact(external_id="p")
    by_part, by_type = (ws.start_conversation(user, now - 900 + n) for n in range(2))
    ws.close(by_part, now - 800)
    ws.close_by_part(by_type, now - 700)
    with FakeIntercom(ws, token=INTERCOM_TOKEN) as fake:
        found = _probe(fake, now)["R-close-state"]
    assert found.verdict == probe.CONFIRMED, found.evidence
    assert "close 1" in found.evidence and "custom_action_finished 1" in found.evidence
    unseen = ws.start_conversation(user, now - 600)
    ws.close_unseen(unseen, now - 500)
    with FakeIntercom(ws, token=INTERCOM_TOKEN) as fake:
        found = _probe(fake, now)["R-close-state"]
    assert found.verdict == probe.CONTRADICTED and unseen in found.evidence
