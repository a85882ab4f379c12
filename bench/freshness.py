"""Freshness benchmark: how long from an event in Intercom to its goal in the Collector, and
what an idle daemon costs, at the shipped defaults.

    python bench/freshness.py                    # 3 minutes of activity, 1 minute idle
    python bench/freshness.py --minutes 10

Runs `syncer run` (the real daemon, a subprocess, with the default poll_interval and settle)
against the fake Intercom (150 ms per call) and the fake Collector on 127.0.0.1. First it
counts the calls an idle daemon makes in a minute; then it makes support activity happen
"now" (conversations opened, replies, ratings, tickets) every second or so, and records, for
every goal, the seconds from `achievedAt` to the moment the fake Collector took it. Prints
p50, p95 and max beside the idle cost, and checks every goal arrived exactly once.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from syncer.config import SyncSettings  # noqa: E402
from syncer.testing.fake_collector import FakeCollector  # noqa: E402
from syncer.testing.fake_intercom import FakeIntercom  # noqa: E402
from syncer.testing.workspace import Workspace  # noqa: E402
from tests.truth import expected_deliveries  # noqa: E402

TOKEN, KEY = "bench-token", "bench-key"
BUDGET_PER_MINUTE = 10_000  # Intercom's private-app budget


def activity(ws: Workspace, rng: random.Random, users: list[str], convs: list[str]) -> None:
    """One thing a contact does, now."""
    now = int(time.time())
    user = rng.choice(users)
    draw = rng.random()
    if draw < 0.4 or not convs:
        convs.append(ws.start_conversation(user, now))
    elif draw < 0.75:
        conv = rng.choice(convs)
        author = ws.conversations[conv]["contacts"]["contacts"][0]["id"]
        ws.add_part(conv, now, author_type="user", author_id=author)
    elif draw < 0.9:
        # A rating changed twice between two polls shows only its last score to any poller:
        # leave a minute between changes of one conversation's rating.
        conv = rng.choice(convs)
        rating = ws.conversations[conv]["conversation_rating"]
        if rating is None or rating["updated_at"] < now - 60:
            ws.rate(conv, now, rng.randint(1, 5))
    else:
        ws.add_ticket(user, now)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="of activity (3)")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle (60)")
    parser.add_argument("--latency", type=float, default=0.15, help="per Intercom call (0.15)")
    parser.add_argument("--poll", type=int, help="poll_interval (default: the shipped one)")
    parser.add_argument("--settle", type=int, help="settle (default: the shipped one)")
    args = parser.parse_args()
    rng = random.Random(5)
    ws = Workspace()
    users = [ws.add_contact(external_id=f"u-{i}") for i in range(50)]
    shipped = SyncSettings(database="", start=None)
    poll = args.poll or shipped.poll_interval
    settle = shipped.settle if args.settle is None else args.settle
    with (
        tempfile.TemporaryDirectory() as folder,
        FakeIntercom(ws, token=TOKEN, latency=args.latency) as intercom,
        FakeCollector(api_key=KEY) as collector,
    ):
        config = Path(folder) / "fresh.toml"
        config.write_text(
            f'[intercom]\nbase_url = "{intercom.url}"\n'
            f'[absmartly]\nendpoint = "{collector.url}"\napplication = "www"\n'
            f'environment = "production"\n[[units]]\ntype = "user_id"\nfrom = "external_id"\n'
            f'[sync]\ndatabase = "sqlite:///{Path(folder) / "fresh.db"}"\n'
            f"poll_interval = {poll}\nsettle = {settle}\n"
        )
        env = {**os.environ, "INTERCOM_ACCESS_TOKEN": TOKEN, "ABSMARTLY_API_KEY": KEY}
        daemon = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "syncer",
                "--log-level",
                "warning",
                "--config",
                str(config),
                "run",
            ],
            env=env,
        )
        try:
            while not intercom.calls()["POST /conversations/search"]:
                time.sleep(0.1)
            time.sleep(5)
            intercom.requests.clear()
            time.sleep(args.idle)
            idle_calls = len(intercom.requests) * 60 / args.idle
            start = int(time.time())
            convs: list[str] = []
            deadline = time.monotonic() + args.minutes * 60
            while time.monotonic() < deadline:
                activity(ws, rng, users, convs)
                time.sleep(rng.uniform(0.3, 1.7))
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
        got = Counter(collector.goal_keys())
        late = [a.received_at - a.achieved_at / 1000 for a in collector.accepted]
    exact = got == expected
    if not exact:
        for label, diff in (("missing", expected - got), ("extra", got - expected)):
            names = Counter(name for name, _, _ in diff.elements())
            print(f"{label}: {dict(names)}")
    print(
        f"\nfreshness with poll_interval {poll} s, settle {settle} s"
        f"{' (the defaults)' if (poll, settle) == (shipped.poll_interval, shipped.settle) else ''}"
        f", {args.latency * 1000:.0f} ms per Intercom call\n"
    )
    print("| figure | value |\n|---|---:|")
    print(f"| goals delivered | {len(late)} (every one exactly once: {'yes' if exact else 'NO'}) |")
    print(f"| freshness p50 | {statistics.median(late):.1f} s |")
    print(f"| freshness p95 | {percentile(late, 0.95):.1f} s |")
    print(f"| freshness max | {max(late):.1f} s |")
    print(f"| idle calls per minute | {idle_calls:.1f} |")
    print(f"| idle share of the rate budget | {idle_calls / BUDGET_PER_MINUTE:.2%} |")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
