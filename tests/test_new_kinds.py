"""`conversation_closed` and `ai_agent_resolved`: once per close, once per resolution, in a
catch-up, in adjacent catch-ups and in the daemon. Expectations come from the workspace's own
record of each close and resolution (`tests/truth.py`), never from the detectors."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from syncer.daemon import run_cycle
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace, generate
from tests.conftest import INTERCOM_TOKEN, config_text
from tests.test_cycle import cycle_context
from tests.truth import NAMES, expected_deliveries

DAY = 86_400
NEW = frozenset({"conversation_closed", "ai_agent_resolved"})
ONLY_NEW = (
    "".join(f"[goals.{kind}]\nenabled = false\n" for kind in list(NAMES)[:4])
    + "[goals.conversation_closed]\nenabled = true\n"
    + "[goals.ai_agent_resolved]\nenabled = true\n"
)


def iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _workspace(start: int, end: int) -> Workspace:
    ws = generate(seed=21, conversations=160, start=start, end=end, closes=True, ai_agent=0.4)
    user = ws.add_contact(external_id="closer")
    conv = ws.start_conversation(user, end - 5_000)
    ws.close(conv, end - 4_000)
    ws.reopen(conv, end - 3_000)
    ws.close(conv, end - 2_000, by="bot")  # closed again: a second event
    resolved = ws.start_conversation(user, end - 5_000)
    ws.ai_resolve(resolved, end - 4_500)
    ws.ai_resolve(resolved, end - 4_400, state="confirmed_resolution")  # the same resolution
    routed = ws.start_conversation(user, end - 5_000)
    ws.ai_route(routed, end - 4_000)  # never resolved: no event
    return ws


def test_closes_and_resolutions_once_each_in_adjacent_catchups(
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Two adjacent catch-ups deliver every close and every AI resolution once, at its own
    time; a third over the whole span adds nothing."""
    start, edge, end = now - 6 * DAY, now - 3 * DAY, now - 600
    ws = _workspace(start, end)
    truth = expected_deliveries(ws, start, end, kinds=NEW)
    kinds = Counter(name for name, _, _ in truth.elements())
    assert kinds["intercom_conversation_closed"] > 20 and kinds["intercom_ai_agent_resolved"] > 5
    with FakeIntercom(ws, token=INTERCOM_TOKEN) as intercom:
        text = config_text(
            intercom.url, tmp_path / "s.db", collector_url=fake_collector.url, extra=ONLY_NEW
        )
        config = str(write_config(text))
        first = cli("--config", config, "sync", "--since", iso(start), "--until", iso(edge))
        second = cli("--config", config, "sync", "--since", iso(edge + 1), "--until", iso(end))
        assert (first.code, second.code) == (0, 0), first.err + second.err
        assert Counter(fake_collector.goal_keys()) == truth
        whole = cli("--config", config, "sync", "--since", iso(start), "--until", iso(end))
        assert whole.code == 0, whole.err
    assert Counter(fake_collector.goal_keys()) == truth


def test_the_daemon_delivers_each_close_and_resolution_once(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
) -> None:
    """Live: a close, a reopen and a second close, an AI resolution then its confirmation,
    and a routed conversation, over several cycles: two closes and one resolution."""
    ws = fake_intercom.workspace
    path = write_config(
        config_text(
            fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url, extra=ONLY_NEW
        )
    )
    user = ws.add_contact(external_id="live")
    with cycle_context(path) as (ctx, pub):
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)
        conv = ws.start_conversation(user, t0 + 1)
        ai = ws.start_conversation(user, t0 + 1)
        routed = ws.start_conversation(user, t0 + 1)
        ws.close(conv, t0 + 2)
        ws.ai_resolve(ai, t0 + 3)
        ws.ai_route(routed, t0 + 3)
        run_cycle(ctx, pub, now=t0 + 20)
        ws.reopen(conv, t0 + 30)
        ws.close(conv, t0 + 40, by="bot")
        ws.ai_resolve(ai, t0 + 41, state="confirmed_resolution")
        run_cycle(ctx, pub, now=t0 + 60)
        run_cycle(ctx, pub, now=t0 + 120)
    got = Counter(fake_collector.goal_keys())
    assert got == expected_deliveries(ws, t0, t0 + 120, kinds=NEW)
    assert sorted(at // 1000 - t0 for name, at, _ in got.elements()) == [2, 3, 40]
