"""`ai_agent_resolved` from the AI agent's own state (registers R-ai-sweep, R-ai-resolution,
R-ai-answer): which states count (the goal's `resolutions`, `assumed_hold`), the time of the
AI agent's answer, Fin as a `bot` or as an `admin`, and the sweep that finds a resolution
whose state changed without moving `updated_at`.

The parts below are shaped as real recorded payloads show them (a production workspace's
conversations fetched with python-intercom in November 2025): Fin's answers are `comment`
parts with `from_ai_agent: true, is_ai_answer: true`, by `author.type: admin, name: Fin`; its
follow-ups `from_ai_agent: true, is_ai_answer: false`; workflow parts by the same bot
`from_ai_agent: false`. Expectations come from the parts as written here or from the fake
workspace's own record (`Workspace.truth`), never from the detector."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from syncer.config import GoalSettings
from syncer.daemon import run_cycle
from syncer.detect import Window, ai_agent_resolved
from syncer.errors import ConfigError
from syncer.kinds import AI_SWEEP, scans_for
from syncer.parts import ai_answer_at
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import FIN_ID
from syncer.values import Unreadable
from tests.conftest import config_text
from tests.test_config import BASE, load
from tests.test_cycle import cycle_context

ALL = Window(0, 10**10)
USER = {"type": "user", "id": "u1", "name": "Ada"}
FIN = {"type": "admin", "id": "8", "name": "Fin", "email": "fin@example.com"}
AI = "ai_agent_resolved"


def part(
    pid: str, at: int, author: dict[str, Any], part_type: str = "comment", **flags: Any
) -> dict[str, Any]:
    body = flags.pop("body", "<p>…</p>")
    return {
        "type": "conversation_part",
        "id": pid,
        "part_type": part_type,
        "body": body,
        "created_at": at,
        "author": {**author, **flags},
    }


def conversation(state: str | None, *parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "conversation",
        "id": "c1",
        "created_at": 100,
        "source": {"author": USER},
        "ai_agent": {"resolution_state": state},
        "conversation_parts": {"conversation_parts": list(parts)},
    }


REAL = (  # one conversation's parts, as recorded
    part("1", 100, USER),
    part("2", 110, FIN, from_ai_agent=True, is_ai_answer=True),  # the answer
    part("3", 115, FIN, from_ai_agent=True, is_ai_answer=False, body="<p>Was that helpful?</p>"),
    part("4", 120, FIN, "fin_guidance_applied", from_ai_agent=False, body=None),
    part("5", 125, FIN, "conversation_attribute_updated_by_admin", from_ai_agent=False, body=None),
    part("6", 130, FIN, "close", from_ai_agent=False, body="<p>Closing as idle</p>"),
)


def test_the_time_is_the_ai_answer_never_a_follow_up_or_a_workflow_part() -> None:
    [event] = ai_agent_resolved(conversation("confirmed_resolution", *REAL), ALL)
    assert (event.key, event.achieved_at) == ("conversation:c1:ai_agent_resolved", 110_000)
    assert event.contact == {"id": "u1"}


def test_a_custom_answer_is_dated_by_the_ai_agents_last_part_with_a_body() -> None:
    """No part `is_ai_answer` (a custom answer's body is not generated): the AI agent's last
    part with a body; a later one without (an attribute set by Fin) does not date it."""
    conv = conversation(
        "confirmed_resolution",
        part("1", 100, USER),
        part("2", 140, FIN, from_ai_agent=True, is_ai_answer=False),
        part(
            "3", 150, FIN, "conversation_attribute_updated_by_admin", from_ai_agent=True, body=None
        ),
        part("4", 160, FIN, "close", from_ai_agent=False),
    )
    assert ai_answer_at(conv) == 140


@pytest.mark.parametrize(
    ("author", "expected"),
    [
        ({"type": "bot", "id": "278", "name": "Fin"}, 120),  # 2.14's examples
        ({"type": "admin", "id": "8", "name": "Fin"}, 120),  # real payloads
        ({"type": "admin", "id": "7", "name": "Ciaran Lee"}, 105),  # a person: not the AI
    ],
)
def test_without_from_ai_agent_the_ai_agent_is_a_bot_or_an_admin_of_its_name(
    author: dict[str, Any], expected: int
) -> None:
    """Where no part carries `from_ai_agent` (2.14's own examples), the AI agent's answer is
    its last comment with a body, by a `bot` or by an `admin` named as the AI agent; never an
    attribute part without a body (the example's `conversation_attribute_updated_by_admin`
    by the bot Fin)."""
    bot = {"type": "bot", "id": "278", "name": "Fin"}
    conv = conversation(
        "confirmed_resolution",
        part("1", 100, USER),
        part("2", 105, bot),
        part("3", 120, author),
        part("4", 130, bot, "conversation_attribute_updated_by_admin", body=None),
    )
    assert ai_answer_at(conv) == expected
    assert ai_answer_at(conv, frozenset({"Support Sal"})) == (
        105 if author["type"] == "admin" else 120
    )


def test_a_resolution_no_part_dates_is_unreadable_not_guessed() -> None:
    conv = conversation("confirmed_resolution", part("1", 100, USER), REAL[3])
    with pytest.raises(Unreadable, match="no part"):
        ai_agent_resolved(conv, ALL)


@pytest.mark.parametrize("state", ["routed_to_team", "abandoned", None, "something_new"])
def test_a_state_that_is_no_resolution_is_no_event(state: str | None) -> None:
    assert ai_agent_resolved(conversation(state, *REAL), ALL, holds=frozenset({0})) == []


def test_an_assumed_resolution_counts_only_for_goals_that_count_them_once_held() -> None:
    """Assumed: no event without a hold; with one, an event in the window that holds the
    moment it has held that long (so adjacent windows count it once between them), with how
    long it had held when the window ends; each goal judges it by its own hold."""
    conv = conversation("assumed_resolution", *REAL)
    assert ai_agent_resolved(conv, ALL) == []
    hold = frozenset({3_600})
    assert ai_agent_resolved(conv, Window(0, 110 + 3_599), holds=hold) == []
    [event] = ai_agent_resolved(conv, Window(3_000, 5_000), holds=hold)
    assert (event.achieved_at, event.facts["ai_agent.held"]) == (110_000, 5_000 - 110)
    assert ai_agent_resolved(conv, Window(4_000, 9_000), holds=hold) == []
    confirmed_only = GoalSettings(AI, "a", True, ())
    hour = GoalSettings(AI, "b", True, (), assumed_hold=3_600)
    day = GoalSettings(AI, "c", True, (), assumed_hold=86_400)
    facts = event.facts
    assert [g.admits(facts) for g in (confirmed_only, hour, day)] == [False, True, False]
    [confirmed] = ai_agent_resolved(conversation("confirmed_resolution", *REAL), ALL)
    assert all(g.admits(confirmed.facts) for g in (confirmed_only, hour, day))


def test_the_options_default_to_confirmed_and_refuse_a_hold_that_would_do_nothing(
    tmp_path: Path,
) -> None:
    goal = '[[goal]]\nkind = "ai_agent_resolved"\nname = "ai"\n'
    assert load(BASE + goal, tmp_path).goals_of(AI)[0].assumed_hold is None
    assumed = load(BASE + goal + 'resolutions = "assumed"\n', tmp_path).goals_of(AI)[0]
    assert assumed.assumed_hold == 86_400
    held = BASE + goal + 'resolutions = "assumed"\nassumed_hold = 600\n'
    assert load(held, tmp_path).goals_of(AI)[0].assumed_hold == 600
    for wrong, words in [
        ("assumed_hold = 600\n", 'goal[1].assumed_hold: only with resolutions = "assumed"'),
        ('resolutions = "all"\n', 'goal[1].resolutions: "confirmed" or "assumed", got \'all\''),
        (
            'resolutions = "assumed"\nassumed_hold = -1\n',
            "goal[1].assumed_hold: must be at least 0",
        ),
    ]:
        with pytest.raises(ConfigError) as error:
            load(BASE + goal + wrong, tmp_path)
        assert str(error.value).startswith(words), str(error.value)


def test_each_state_is_swept_by_its_own_scan_over_a_trailing_window(tmp_path: Path) -> None:
    """One sweep of confirmed resolutions (the name and cursor of earlier versions), and one
    of assumed ones for each distinct hold, ending that long before now; each searches its
    state (so a conversation enters it, with progress of its own, only in that state)."""
    goals = "".join(
        f'[[goal]]\nkind = "ai_agent_resolved"\nname = "ai{n}"\n{extra}'
        for n, extra in enumerate(["", 'resolutions = "assumed"\nassumed_hold = 600\n'] * 2)
    )
    kinds = [k for k in scans_for(load(BASE + goals, tmp_path)) if k.goal == AI]
    assert [(k.name, k.delay, k.trailing) for k in kinds] == [
        (AI, 0, AI_SWEEP),
        (f"{AI}_assumed_600", 600, AI_SWEEP),
    ]
    states = [
        [f["value"] for f in k.spec.filters if f["field"] == "ai_agent.resolution_state"]
        for k in kinds
    ]
    assert states == [["confirmed_resolution"], ["assumed_resolution"]]
    assert len({k.progress_key("c1") for k in kinds}) == 2
    assert all(k.spec.field == "updated_at" and k.fetch_whole for k in kinds)


def _config(fake: FakeIntercom, collector: FakeCollector, tmp_path: Path, goals: str) -> str:
    return config_text(fake.url, tmp_path / "s.db", collector_url=collector.url, extra=goals)


CONFIRMED_GOAL = '[[goal]]\nkind = "ai_agent_resolved"\nname = "ai_confirmed"\n'
ASSUMED_GOAL = (
    '[[goal]]\nkind = "ai_agent_resolved"\nname = "ai_assumed"\n'
    'resolutions = "assumed"\nassumed_hold = 600\n'
)


@pytest.mark.parametrize("as_admin", [False, True], ids=["fin-as-bot", "fin-as-admin"])
def test_the_goal_is_dated_by_the_answer_whether_fin_is_a_bot_or_an_admin(
    as_admin: bool,
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """Live: Fin answers (as `bot`, or as `admin` named Fin), follows up, a workflow part by
    the same bot comes later, the contact confirms: one goal, at the answer's time."""
    ws = fake_intercom.workspace
    path = write_config(_config(fake_intercom, fake_collector, tmp_path, CONFIRMED_GOAL))
    user = ws.add_contact(external_id="fin")
    with cycle_context(path) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        conv = ws.start_conversation(user, t0 + 1)
        ws.ai_resolve(conv, t0 + 2, as_admin=as_admin)
        fin = {"type": "admin" if as_admin else "bot", "id": FIN_ID, "name": "Fin"}
        follow_up = {**fin, "from_ai_agent": True, "is_ai_answer": False}
        ws.add_part(conv, t0 + 4, author_type=fin["type"], author_id=FIN_ID, author=follow_up)
        workflow = {**fin, "from_ai_agent": False, "is_ai_answer": False}
        ws.add_part(
            conv,
            t0 + 5,
            author_type=fin["type"],
            author_id=FIN_ID,
            part_type="fin_guidance_applied",
            body=None,
            author=workflow,
        )
        run_cycle(ctx, pub, now=t0 + 20)
        assert fake_collector.goal_keys() == []  # assumed: not this goal's
        ws.ai_resolve(conv, t0 + 30, "confirmed_resolution")
        run_cycle(ctx, pub, now=t0 + 60)
        run_cycle(ctx, pub, now=t0 + 120)
    assert [(name, at // 1000 - t0) for name, at, _ in fake_collector.goal_keys()] == [
        ("ai_confirmed", 2)
    ]


def test_by_default_an_assumed_resolution_the_contact_contradicts_sends_nothing(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """The default counts confirmed resolutions only: an assumed one later routed to the
    team (the contact came back for a human) and one that stays assumed send nothing; a
    confirmed one sends its goal."""
    ws = fake_intercom.workspace
    path = write_config(_config(fake_intercom, fake_collector, tmp_path, CONFIRMED_GOAL))
    user = ws.add_contact(external_id="default")
    with cycle_context(path) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        routed, kept, confirmed = (ws.start_conversation(user, t0 + 1) for _ in range(3))
        for conv in (routed, kept, confirmed):
            ws.ai_resolve(conv, t0 + 2)
        run_cycle(ctx, pub, now=t0 + 20)
        ws.add_part(routed, t0 + 30, author_type="user", author_id=user)
        ws.ai_route(routed, t0 + 31)
        ws.ai_resolve(confirmed, t0 + 40, "confirmed_resolution")
        for later in (60, 700, 3_600):
            run_cycle(ctx, pub, now=t0 + later)
    got = fake_collector.goal_keys()
    assert [(name, at // 1000 - t0) for name, at, _ in got] == [("ai_confirmed", 2)]
    truth = {e.key: e.variant for e in ws.truth if e.kind == AI}
    assert truth[f"conversation:{confirmed}:ai_agent_resolved"] == ""
    assert truth[f"conversation:{routed}:ai_agent_resolved"] == "assumed_resolution"


def test_a_confirmation_that_does_not_move_updated_at_arrives_within_one_sweep(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """The state changes (assumed -> confirmed) an hour after the answer without moving
    `updated_at` (the reading the spec leaves open): the next cycle's sweep finds it."""
    ws = fake_intercom.workspace
    path = write_config(_config(fake_intercom, fake_collector, tmp_path, CONFIRMED_GOAL))
    user = ws.add_contact(external_id="unmoved")
    with cycle_context(path) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        conv = ws.start_conversation(user, t0 + 1)
        ws.ai_resolve(conv, t0 + 2)
        run_cycle(ctx, pub, now=t0 + 20)
        run_cycle(ctx, pub, now=t0 + 3_600)
        updated = ws.conversations[conv]["updated_at"]
        ws.ai_resolve(conv, t0 + 3_610, "confirmed_resolution", moves_updated_at=False)
        assert ws.conversations[conv]["updated_at"] == updated
        run_cycle(ctx, pub, now=t0 + 3_620)
        assert [(n, at // 1000 - t0) for n, at, _ in fake_collector.goal_keys()] == [
            ("ai_confirmed", 2)
        ]


def test_an_assumed_resolution_counts_once_held_and_not_when_routed_before(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    """`resolutions = "assumed"`, `assumed_hold = 600`: one assumed resolution held for ten
    minutes sends its goal (dated by the answer) to that goal only; one the contact
    contradicts within the hold (routed to the team) sends nothing; one routed after it
    had held was sent then. A confirmed-only goal beside it takes none of the three."""
    ws = fake_intercom.workspace
    path = write_config(
        _config(fake_intercom, fake_collector, tmp_path, CONFIRMED_GOAL + ASSUMED_GOAL)
    )
    user = ws.add_contact(external_id="held")
    with cycle_context(path) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        held, early, late = (ws.start_conversation(user, t0 + n) for n in (1, 2, 3))
        ws.ai_resolve(held, t0 + 10)
        ws.ai_resolve(early, t0 + 11)
        ws.ai_resolve(late, t0 + 12)
        run_cycle(ctx, pub, now=t0 + 20)
        ws.add_part(early, t0 + 300, author_type="user", author_id=user)
        ws.ai_route(early, t0 + 301)
        run_cycle(ctx, pub, now=t0 + 400)
        assert fake_collector.goal_keys() == []  # nothing has held ten minutes yet
        run_cycle(ctx, pub, now=t0 + 700)
        ws.add_part(late, t0 + 800, author_type="user", author_id=user)
        ws.ai_route(late, t0 + 801)
        run_cycle(ctx, pub, now=t0 + 900)
        run_cycle(ctx, pub, now=t0 + 2_000)
    got = Counter((name, at // 1000 - t0) for name, at, _ in fake_collector.goal_keys())
    assert got == Counter({("ai_assumed", 10): 1, ("ai_assumed", 12): 1})


def test_the_probes_find_states_as_searched_and_answers_as_dated(now: int) -> None:
    """`check --probe`: resolved conversations are found by `ai_agent.resolution_state`, and
    each shows an answer of the AI agent's (evidence: how Fin appears); one whose AI parts
    carry no answer is said, naming it."""
    from syncer import probe
    from syncer.testing.workspace import Workspace
    from tests.conftest import INTERCOM_TOKEN
    from tests.test_assumptions import _probe

    ws = Workspace()
    user = ws.add_contact(external_id="p")
    bot, admin = (ws.start_conversation(user, now - 900 + n) for n in range(2))
    ws.ai_resolve(bot, now - 800)
    ws.ai_resolve(admin, now - 700, "confirmed_resolution", as_admin=True)
    with FakeIntercom(ws, token=INTERCOM_TOKEN) as fake:
        found = _probe(fake, now)
    assert found["R-ai-resolution"].verdict == probe.CONFIRMED, found["R-ai-resolution"].evidence
    answers = found["R-ai-answer"]
    assert answers.verdict == probe.CONFIRMED, answers.evidence
    assert "admin 'Fin'" in answers.evidence and "bot 'Fin'" in answers.evidence
    for part in ws.conversations[admin]["conversation_parts"]["conversation_parts"]:
        part["body"] = None  # an AI part with nothing in it dates nothing
        part["author"]["is_ai_answer"] = False
    with FakeIntercom(ws, token=INTERCOM_TOKEN) as fake:
        found = _probe(fake, now)
    assert found["R-ai-answer"].verdict == probe.CONTRADICTED
    assert admin in found["R-ai-answer"].evidence


@pytest.mark.parametrize("adapt", [False, True], ids=["without-probes", "probed"])
def test_where_the_state_is_not_searchable_the_sweeps_check_it_on_each_item(
    adapt: bool,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    tmp_path: Path,
    now: int,
) -> None:
    """A workspace whose search does not match `ai_agent.resolution_state`: the start-up
    probe says so and the daemon checks the state on each item instead, and every
    confirmed resolution arrives; without the probe's word, those the reconciliation pass
    does not reach (it reads a day, unfiltered) are lost."""
    from syncer import daemon
    from syncer.testing.workspace import generate
    from tests.clock import iso
    from tests.conftest import INTERCOM_TOKEN
    from tests.truth import expected_deliveries

    start, end = now - 5 * 86_400, now - 600
    ws = generate(seed=8, conversations=200, start=start, end=end, ai_agent=0.6)
    unindexed = frozenset({"ai_agent.resolution_state"})
    with FakeIntercom(ws, token=INTERCOM_TOKEN, unindexed=unindexed) as fake:
        text = config_text(fake.url, tmp_path / "s.db", collector_url=fake_collector.url)
        sync = f'settle = 0\nstart = "{iso(start - 60)}"\n'
        goal = CONFIRMED_GOAL.replace("ai_confirmed", "intercom_ai_agent_resolved")
        path = write_config(text.replace("settle = 0\n", sync) + goal)
        with cycle_context(path) as (ctx, pub):
            if adapt:
                daemon._probe(ctx, None)
                assert ctx.unsearched == unindexed
            run_cycle(ctx, pub, now=now)
    expected = expected_deliveries(ws, 0, now, kinds=frozenset({AI}))
    got = Counter(fake_collector.goal_keys())
    assert sum(expected.values()) > 5
    if adapt:
        assert got == expected
    else:
        assert got - expected == Counter() and sum(got.values()) < sum(expected.values())
