"""Freshness benchmark: how long from an event in Intercom to its goal in the Collector, and
what share of Intercom's rate budget the daemon spends, idle and busy, at the shipped
defaults; by polling alone and with Intercom's app webhooks as hints (issue 28).

    python bench/freshness.py                    # both ways: 1 minute idle, 3 busy each
    python bench/freshness.py --ways polling --minutes 5
    python bench/freshness.py --poll 2           # another poll_interval

For each way it runs `syncer run` (the real daemon, a subprocess, at the shipped
poll_interval and settle unless told) against the fake Intercom (150 ms per call) and the
fake Collector on 127.0.0.1. First it counts the calls an idle daemon makes in a minute;
then support activity happens "now" at a busy workspace's pace (2,000 conversations or
tickets updated an hour: conversations opened, replies, ratings, tickets), each at the start
of a second so that `achievedAt` is the moment it happened. With hints, each change is
followed by the notification Intercom would send, signed with the app's client secret. For
every goal: the seconds from `achievedAt` to the fake Collector taking it; p50, p95 and max,
the calls a minute (idle and busy) as a share of the app's 10,000 a minute, and a check that
every goal arrived exactly once.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from syncer.config import SyncSettings  # noqa: E402
from syncer.testing.fake_collector import FakeCollector  # noqa: E402
from syncer.testing.fake_intercom import FakeIntercom  # noqa: E402
from syncer.testing.fake_webhooks import IntercomNotifier  # noqa: E402
from syncer.testing.workspace import Workspace  # noqa: E402
from tests.truth import expected_deliveries  # noqa: E402

TOKEN, KEY, SECRET = "bench-token", "bench-key", "bench-client-secret"
BUDGET_PER_MINUTE = 10_000  # Intercom's private-app budget
BUSY_PER_HOUR = 2_000  # conversations (or tickets) updated an hour: a busy workspace


@dataclass
class Outcome:
    way: str
    late: list[float] = field(default_factory=list)
    exact: bool = False
    goals: int = 0
    idle_calls: float = 0.0  # a minute
    busy_calls: float = 0.0  # a minute
    busy_routes: Counter[str] = field(default_factory=Counter)


def activity(
    ws: Workspace,
    rng: random.Random,
    users: list[str],
    convs: list[str],
    notify: IntercomNotifier | None,
    sending: ThreadPoolExecutor,
) -> None:
    """One thing a contact does, now (and the notification Intercom sends for it)."""
    now = int(time.time())
    user = rng.choice(users)
    draw = rng.random()
    hint: tuple[str, str, str] | None = None
    if draw < 0.4 or not convs:
        conv = ws.start_conversation(user, now)
        convs.append(conv)
        hint = ("conversation.user.created", "conversation", conv)
    elif draw < 0.75:
        conv = rng.choice(convs)
        author = ws.conversations[conv]["contacts"]["contacts"][0]["id"]
        ws.add_part(conv, now, author_type="user", author_id=author)
        hint = ("conversation.user.replied", "conversation", conv)
    elif draw < 0.9:
        # A rating changed twice between two polls shows only its last score to any poller:
        # leave a minute between changes of one conversation's rating.
        conv = rng.choice(convs)
        rating = ws.conversations[conv]["conversation_rating"]
        if rating is None or rating["updated_at"] < now - 60:
            ws.rate(conv, now, rng.randint(1, 5))
            hint = ("conversation.rating.added", "conversation", conv)
    else:
        hint = ("ticket.created", "ticket", ws.add_ticket(user, now))
    if notify is not None and hint is not None:
        sending.submit(notify.notify, *hint)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(way: str, args: argparse.Namespace, poll: int, settle: int) -> Outcome:
    rng = random.Random(5)
    ws = Workspace()
    users = [ws.add_contact(external_id=f"u-{i}") for i in range(50)]
    outcome = Outcome(way)
    hooks = free_port() if way == "hints" else None
    with (
        tempfile.TemporaryDirectory() as folder,
        FakeIntercom(ws, token=TOKEN, latency=args.latency) as intercom,
        FakeCollector(api_key=KEY) as collector,
        ThreadPoolExecutor(4, thread_name_prefix="notify") as sending,
    ):
        config = Path(folder) / "fresh.toml"
        config.write_text(
            f'[intercom]\nbase_url = "{intercom.url}"\n'
            f'[absmartly]\nendpoint = "{collector.url}"\napplication = "www"\n'
            f'environment = "production"\n[[units]]\ntype = "user_id"\nfrom = "external_id"\n'
            f'[sync]\ndatabase = "sqlite:///{Path(folder) / "fresh.db"}"\n'
            f"poll_interval = {poll}\nsettle = {settle}\n"
            + (f'[webhooks]\nlisten = "127.0.0.1:{hooks}"\n' if hooks else "")
        )
        env = {
            **os.environ,
            "INTERCOM_ACCESS_TOKEN": TOKEN,
            "ABSMARTLY_API_KEY": KEY,
            "INTERCOM_CLIENT_SECRET": SECRET,
        }
        command = [sys.executable, "-m", "syncer", "--log-level", "warning"]
        daemon = subprocess.Popen([*command, "--config", str(config), "run"], env=env)
        notify = IntercomNotifier(f"http://127.0.0.1:{hooks}", SECRET) if hooks else None
        try:
            while not intercom.calls()["POST /conversations/search"]:
                time.sleep(0.1)
            time.sleep(5)  # past the first cycle's passes (reconciliation, re-resolution)
            intercom.requests.clear()
            time.sleep(args.idle)
            outcome.idle_calls = len(intercom.requests) * 60 / args.idle
            start = int(time.time()) + 1
            convs: list[str] = []
            intercom.requests.clear()
            busy_started = time.monotonic()
            deadline = busy_started + args.minutes * 60
            gap = 3600 / BUSY_PER_HOUR
            while time.monotonic() < deadline:
                time.sleep(rng.uniform(0.5, 1.5) * gap)
                wall = time.time()
                time.sleep(math.ceil(wall) - wall + 0.002)  # at the start of a second
                activity(ws, rng, users, convs, notify, sending)
            busy_minutes = (time.monotonic() - busy_started) / 60
            outcome.busy_routes = intercom.calls()
            outcome.busy_calls = sum(outcome.busy_routes.values()) / busy_minutes
            end = int(time.time())
            expected = expected_deliveries(ws, start, end)
            wait_until = time.monotonic() + 3 * poll + settle + 30
            while time.monotonic() < wait_until:
                if not expected - Counter(collector.goal_keys()):
                    break
                time.sleep(0.5)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
            if notify is not None:
                notify.close()
        got = Counter(collector.goal_keys())
        outcome.late = [a.received_at - a.achieved_at / 1000 for a in collector.accepted]
    outcome.goals = len(outcome.late)
    outcome.exact = got == expected
    if not outcome.exact:
        for label, diff in (("missing", expected - got), ("extra", got - expected)):
            names = Counter(name for name, _, _ in diff.elements())
            print(f"{way}: {label}: {dict(names)}")
    return outcome


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="busy, each way (3)")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds idle, each way (60)")
    parser.add_argument("--latency", type=float, default=0.15, help="per Intercom call (0.15)")
    parser.add_argument("--poll", type=int, help="poll_interval (default: the shipped one)")
    parser.add_argument("--settle", type=int, help="settle (default: the shipped one)")
    parser.add_argument("--ways", choices=["both", "polling", "hints"], default="both")
    args = parser.parse_args()
    shipped = SyncSettings(database="", start=None)
    poll = args.poll or shipped.poll_interval
    settle = shipped.settle if args.settle is None else args.settle
    ways = ["polling", "hints"] if args.ways == "both" else [args.ways]
    outcomes = [measure(way, args, poll, settle) for way in ways]
    shipped_pair = (shipped.poll_interval, shipped.settle)
    defaults = " (the defaults)" if (poll, settle) == shipped_pair else ""
    print(
        f"\nfreshness with poll_interval {poll} s, settle {settle} s{defaults}, "
        f"{args.latency * 1000:.0f} ms per Intercom call, busy = {BUSY_PER_HOUR:,} updates an "
        "hour\n"
    )
    print("| figure | " + " | ".join(o.way for o in outcomes) + " |")
    print("|---|" + "---:|" * len(outcomes))
    rows: list[tuple[str, Callable[[Outcome], str]]] = [
        ("goals delivered", lambda o: f"{o.goals} (exactly once: {'yes' if o.exact else 'NO'})"),
        ("freshness p50", lambda o: f"{statistics.median(o.late):.1f} s"),
        ("freshness p95", lambda o: f"{percentile(o.late, 0.95):.1f} s"),
        ("freshness max", lambda o: f"{max(o.late):.1f} s"),
        ("idle calls a minute", lambda o: f"{o.idle_calls:.0f}"),
        ("idle share of the budget", lambda o: f"{o.idle_calls / BUDGET_PER_MINUTE:.2%}"),
        ("busy calls a minute", lambda o: f"{o.busy_calls:.0f}"),
        ("busy share of the budget", lambda o: f"{o.busy_calls / BUDGET_PER_MINUTE:.2%}"),
    ]
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(o) for o in outcomes) + " |")
    for o in outcomes:
        print(f"\n{o.way}, busy calls by route: {dict(o.busy_routes.most_common())}")
    return 0 if all(o.exact for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
