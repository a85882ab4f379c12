"""Catch-up benchmark: the syncer's own `sync --since` against a naive strategy, side by side.

    python bench/bench.py                       # 10,000 conversations
    python bench/bench.py --conversations 100000

Serves a generated workspace from the fake Intercom on 127.0.0.1 with a per-call latency
(150 ms by default, like a real API across the internet) and Intercom's real rate budget
(1,667 calls per 10-second window), runs `syncer sync --since` (a subprocess, the real CLI)
into the fake Collector, then the naive strategy written here: search `updated_at` over the
window and GET every conversation it returns. Then it keeps the workspace busy for a few
rounds of new support activity (the generator's own mix, stamped "now"), each read by one
`syncer run --once` (the daemon's cycle) and by one naive poll. Prints a table of figures;
every comparison is a ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from syncer.absmartly.publisher import Publisher  # noqa: E402
from syncer.config import CollectorSettings, IntercomSettings  # noqa: E402
from syncer.intercom.client import IntercomClient  # noqa: E402
from syncer.intercom.scans import Page, ScanSpec, scan  # noqa: E402
from syncer.store.db import open_database  # noqa: E402
from syncer.store.outbox import Goal  # noqa: E402
from syncer.testing.fake_collector import FakeCollector  # noqa: E402
from syncer.testing.fake_intercom import FakeIntercom  # noqa: E402
from syncer.testing.workspace import Workspace, generate, support_step  # noqa: E402
from tests.truth import expected_deliveries  # noqa: E402

TOKEN, KEY = "bench-token", "bench-key"


@dataclass
class Run:
    calls: Counter[str]
    wall: float
    rate_limited: int
    goals: int
    peak_rss_mb: float | None = None


def peak_rss_mb(pid: int, stop: threading.Event, out: list[float]) -> None:
    """Poll a child's high-water mark (VmHWM) until it exits."""
    peak = 0.0
    status = Path(f"/proc/{pid}/status")
    while not stop.is_set():
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        stop.wait(0.2)
    out.append(peak)


def write_config(
    intercom: FakeIntercom, collector: FakeCollector, folder: Path, concurrency: int
) -> Path:
    config = folder / "bench.toml"
    config.write_text(
        f'[intercom]\nbase_url = "{intercom.url}"\nconcurrency = {concurrency}\n'
        f'[absmartly]\nendpoint = "{collector.url}"\napplication = "www"\n'
        f'environment = "production"\n[[units]]\ntype = "user_id"\nfrom = "external_id"\n'
        f'[sync]\ndatabase = "sqlite:///{folder / "bench.db"}"\nsettle = 0\n'
    )
    return config


def run_syncer(
    intercom: FakeIntercom, collector: FakeCollector, config: Path, *command: str
) -> Run:
    """The real CLI as a subprocess; its calls, wall time, new goals and peak RSS."""
    env = {**os.environ, "INTERCOM_ACCESS_TOKEN": TOKEN, "ABSMARTLY_API_KEY": KEY}
    intercom.requests.clear()
    goals_before = len(collector.goal_keys())
    started = time.monotonic()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "syncer",
            "--log-level",
            "warning",
            "--config",
            str(config),
            *command,
        ],
        env=env,
        cwd=ROOT,
    )
    stop, rss = threading.Event(), list[float]()
    watcher = threading.Thread(target=peak_rss_mb, args=(process.pid, stop, rss))
    watcher.start()
    code = process.wait()
    wall = time.monotonic() - started
    stop.set()
    watcher.join()
    if code != 0:
        raise SystemExit(f"syncer {' '.join(command)} exited {code}")
    statuses = intercom.statuses()
    goals = len(collector.goal_keys()) - goals_before
    return Run(intercom.calls(), wall, statuses.get(429, 0), goals, rss[0])


def run_naive(intercom: FakeIntercom, since: int, until: int, concurrency: int) -> Run:
    """Search updated_at over the window, then GET every conversation, `concurrency` at once."""
    intercom.requests.clear()
    settings = IntercomSettings("X", intercom.url, concurrency=concurrency, token=TOKEN)
    started = time.monotonic()
    with IntercomClient(settings) as client, ThreadPoolExecutor(concurrency) as pool:
        spec = ScanSpec("conversations", "updated_at")
        for step in scan(client, spec, since, until, 86_400):
            if isinstance(step, Page):
                list(pool.map(client.conversation, [str(i["id"]) for i in step.items]))
        rate_limited = client.transport.rate_limited
    return Run(intercom.calls(), time.monotonic() - started, rate_limited, 0)


def busy_round(ws: Workspace, rng: random.Random, at: int, size: int) -> None:
    """New support activity, all stamped `at`: steps on `size` existing conversations, a
    quarter as many new conversations (a fifth of them outbound), a twentieth as many tickets."""
    ids = list(ws.conversations)
    for conv in rng.sample(ids, min(size, len(ids))):
        support_step(ws, rng, conv, at, at, gap=0)
    contacts = list(ws.contacts)
    for _ in range(max(1, size // 4)):
        ws.start_conversation(rng.choice(contacts), at, by_admin=rng.random() < 0.2)
    for _ in range(max(1, size // 20)):
        ws.add_ticket(rng.choice(contacts), at)


def run_live(
    intercom: FakeIntercom,
    collector: FakeCollector,
    config: Path,
    naive_from: int,
    rounds: int,
    size: int,
    concurrency: int,
) -> tuple[Run, Run, bool]:
    """`rounds` rounds of new activity, each read by `syncer run --once` and a naive poll.

    Returns both sides' totals and whether the syncer delivered exactly the new goals.
    """
    ws, rng = intercom.workspace, random.Random(7)
    ours, naive = Run(Counter(), 0.0, 0, 0), Run(Counter(), 0.0, 0, 0)
    delivered_before = len(collector.goal_keys())
    first = at = int(time.time()) + 1
    for _ in range(rounds):
        time.sleep(1.1)  # stamp this round after everything both sides already read
        at = int(time.time())
        busy_round(ws, rng, at, size)
        for total, run in (
            (ours, run_syncer(intercom, collector, config, "run", "--once")),
            (naive, run_naive(intercom, naive_from, at, concurrency)),
        ):
            total.calls.update(run.calls)
            total.wall += run.wall
            total.rate_limited += run.rate_limited
            total.goals += run.goals
        naive_from = at + 1
    delivered = Counter(collector.goal_keys()[delivered_before:])
    return ours, naive, delivered == expected_deliveries(ws, first, at)


def must_fetch(ws: Workspace) -> int:
    """Conversations holding a part the contact wrote: no strategy that reads parts from
    Intercom can skip fetching these."""
    return sum(
        1
        for conv in ws.conversations.values()
        if any(
            p["author"]["type"] in ("user", "lead")
            for p in conv["conversation_parts"]["conversation_parts"]
        )
    )


def delivery_speed(goals: int, folder: Path) -> float:
    """Goals per second from the outbox into the fake Collector (its latency 0)."""
    db = open_database(f"sqlite:///{folder / 'delivery.db'}")
    batch = [
        Goal(
            f"k{i}",
            "conversation_started",
            "intercom_user_messaged",
            1_700_000_000_000 + i,
            (("user_id", f"u{i // 3}"),),
            {},
            {"contact": {}, "facts": {}},
        )
        for i in range(goals)
    ]
    db.store_page(batch, {})
    with FakeCollector(api_key=KEY) as collector:
        settings = CollectorSettings(collector.url, "K", "www", "production", api_key=KEY)
        publisher = Publisher(settings, db)
        started = time.monotonic()
        result = publisher.drain()
        elapsed = time.monotonic() - started
        publisher.close()
    db.close()
    assert result.sent == goals, result
    return goals / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.150, help="seconds per call")
    parser.add_argument("--budget", type=int, default=1667, help="calls per window")
    parser.add_argument("--window", type=int, default=10, help="seconds per window")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="intercom.concurrency for both strategies (default: the syncer's)",
    )
    parser.add_argument("--delivery-goals", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of ongoing activity")
    parser.add_argument(
        "--round-size",
        type=int,
        default=None,
        help="conversations with new activity per round (default: 1 %% of them)",
    )
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    concurrency = args.concurrency or IntercomSettings("X", "http://x").concurrency
    size = args.round_size or max(10, args.conversations // 100)

    now = int(time.time())
    since = now - 366 * 86_400
    ws = generate(seed=42, conversations=args.conversations, start=since + 3600, end=now - 3600)
    least = must_fetch(ws)
    per_second = args.budget / args.window
    with (
        tempfile.TemporaryDirectory(prefix="syncer-bench-") as tmp,
        FakeIntercom(
            ws, token=TOKEN, budget=args.budget, window=args.window, latency=args.latency
        ) as intercom,
        FakeCollector(api_key=KEY) as collector,
    ):
        folder = Path(tmp)
        config = write_config(intercom, collector, folder, concurrency)
        day = time.strftime("%Y-%m-%d", time.gmtime(since))
        ours = run_syncer(intercom, collector, config, "sync", "--since", day)
        naive = None if args.skip_naive else run_naive(intercom, since, now, concurrency)
        live = None
        if args.rounds and naive:
            live = run_live(intercom, collector, config, now + 1, args.rounds, size, concurrency)
        speed = delivery_speed(args.delivery_goals, folder)

    print(
        f"\n{args.conversations} conversations, latency {args.latency * 1000:.0f} ms, "
        f"budget {args.budget}/{args.window}s, concurrency {concurrency}\n"
    )
    rows = catch_up_rows(ours, naive, per_second, least)
    rows.append(("delivery, goals/s (Collector latency 0)", f"{speed:.0f}", ""))
    print_table("catch-up (sync --since a year ago)", rows)
    if live:
        ours_live, naive_live, exact = live
        title = (
            f"ongoing: {args.rounds} rounds of activity on {size} conversations, "
            f"each read by `run --once` and by one naive poll"
        )
        print_table(title, live_rows(ours_live, naive_live, exact))


def catch_up_rows(
    ours: Run, naive: Run | None, per_second: float, least: int
) -> list[tuple[str, str, str]]:
    rows = call_rows(ours, naive)
    total_ours, total_naive = sum(ours.calls.values()), sum(naive.calls.values()) if naive else 0
    floor_ours, floor_naive = total_ours / per_second, total_naive / per_second
    rows += [
        ("goals delivered", f"{ours.goals}", "(same goals)"),
        ("conversations any reader of parts must fetch", f"{least}", f"{least}"),
        (
            "calls per delivered goal",
            f"{total_ours / ours.goals:.3f}",
            f"{total_naive / ours.goals:.3f}" if naive else "-",
        ),
        ("wall time, s", f"{ours.wall:.1f}", f"{naive.wall:.1f}" if naive else "-"),
        (
            "rate-limit floor (calls / budget), s",
            f"{floor_ours:.1f}",
            f"{floor_naive:.1f}" if naive else "-",
        ),
        (
            "wall time / floor",
            f"{ours.wall / floor_ours:.2f}",
            f"{naive.wall / floor_naive:.2f}" if naive else "-",
        ),
        ("429s answered", f"{ours.rate_limited}", f"{naive.rate_limited}" if naive else "-"),
        ("peak RSS of the syncer, MB", f"{ours.peak_rss_mb:.0f}", "-"),
    ]
    if naive:
        rows.append(("calls per goal, syncer / naive", f"{total_ours / total_naive:.2f}", ""))
    return rows


def live_rows(ours: Run, naive: Run, exact: bool) -> list[tuple[str, str, str]]:
    total_ours, total_naive = sum(ours.calls.values()), sum(naive.calls.values())
    return [
        *call_rows(ours, naive),
        ("goals delivered", f"{ours.goals}", "(same goals)"),
        ("exactly the new goals, once each", "yes" if exact else "NO", ""),
        (
            "calls per delivered goal",
            f"{total_ours / ours.goals:.3f}",
            f"{total_naive / ours.goals:.3f}",
        ),
        ("calls per goal, syncer / naive", f"{total_ours / total_naive:.2f}", ""),
        ("429s answered", f"{ours.rate_limited}", f"{naive.rate_limited}"),
    ]


def call_rows(ours: Run, naive: Run | None) -> list[tuple[str, str, str]]:
    routes = sorted(set(ours.calls) | set(naive.calls if naive else {}))
    rows = [
        (f"calls {route}", f"{ours.calls[route]}", f"{naive.calls[route]}" if naive else "-")
        for route in routes
    ]
    total_naive = f"{sum(naive.calls.values())}" if naive else "-"
    return [*rows, ("calls, all", f"{sum(ours.calls.values())}", total_naive)]


def print_table(title: str, rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{title}\n{'':<{width}}  {'syncer':>10}  {'naive':>12}")
    for name, mine, theirs in rows:
        print(f"{name:<{width}}  {mine:>10}  {theirs:>12}")
    print()


if __name__ == "__main__":
    main()
