"""Catch-up benchmark: the syncer's own `sync --since` against a naive strategy, side by side.

    python bench/bench.py                       # 10,000 conversations
    python bench/bench.py --conversations 100000

Serves a generated workspace from the fake Intercom on 127.0.0.1 with a per-call latency
(150 ms by default, like a real API across the internet) and Intercom's real rate budget
(1,667 calls per 10-second window), runs `syncer sync --since` (a subprocess, the real CLI)
into the fake Collector, then the naive strategy written here: search `updated_at` over the
window and GET every conversation it returns. Prints a table of figures; every comparison is
a ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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
from syncer.store import outbox  # noqa: E402
from syncer.store.db import open_database  # noqa: E402
from syncer.store.outbox import Goal  # noqa: E402
from syncer.testing.fake_collector import FakeCollector  # noqa: E402
from syncer.testing.fake_intercom import FakeIntercom  # noqa: E402
from syncer.testing.workspace import generate  # noqa: E402

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


def run_syncer(
    intercom: FakeIntercom, collector: FakeCollector, since: int, folder: Path, concurrency: int
) -> Run:
    config = folder / "bench.toml"
    config.write_text(
        f'[intercom]\nbase_url = "{intercom.url}"\nconcurrency = {concurrency}\n'
        f'[absmartly]\nendpoint = "{collector.url}"\napplication = "www"\n'
        f'environment = "production"\n[[units]]\ntype = "user_id"\nfrom = "external_id"\n'
        f'[sync]\ndatabase = "sqlite:///{folder / "bench.db"}"\nsettle = 0\n'
    )
    env = {**os.environ, "INTERCOM_ACCESS_TOKEN": TOKEN, "ABSMARTLY_API_KEY": KEY}
    intercom.requests.clear()
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
            "sync",
            "--since",
            time.strftime("%Y-%m-%d", time.gmtime(since)),
        ],
        env=env,
        cwd=ROOT,
    )
    stop, rss = threading.Event(), []
    watcher = threading.Thread(target=peak_rss_mb, args=(process.pid, stop, rss))
    watcher.start()
    code = process.wait()
    wall = time.monotonic() - started
    stop.set()
    watcher.join()
    if code != 0:
        raise SystemExit(f"syncer sync exited {code}")
    statuses = intercom.statuses()
    return Run(intercom.calls(), wall, statuses.get(429, 0), len(collector.goal_keys()), rss[0])


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
    with db.engine.begin() as conn:
        outbox.insert_new(conn, batch)
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
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    concurrency = args.concurrency or IntercomSettings("X", "http://x").concurrency

    now = int(time.time())
    since = now - 366 * 86_400
    ws = generate(seed=42, conversations=args.conversations, start=since + 3600, end=now - 3600)
    per_second = args.budget / args.window
    with (
        tempfile.TemporaryDirectory(prefix="syncer-bench-") as tmp,
        FakeIntercom(
            ws, token=TOKEN, budget=args.budget, window=args.window, latency=args.latency
        ) as intercom,
        FakeCollector(api_key=KEY) as collector,
    ):
        folder = Path(tmp)
        ours = run_syncer(intercom, collector, since, folder, concurrency)
        naive = None if args.skip_naive else run_naive(intercom, since, now, concurrency)
        speed = delivery_speed(args.delivery_goals, folder)

    rows: list[tuple[str, str, str]] = []
    routes = sorted(set(ours.calls) | set(naive.calls if naive else {}))
    for route in routes:
        rows.append(
            (f"calls {route}", f"{ours.calls[route]}", f"{naive.calls[route]}" if naive else "-")
        )
    total_ours = sum(ours.calls.values())
    total_naive = sum(naive.calls.values()) if naive else 0
    floor_ours, floor_naive = total_ours / per_second, total_naive / per_second
    rows += [
        ("calls, all", f"{total_ours}", f"{total_naive}" if naive else "-"),
        ("goals delivered", f"{ours.goals}", "(same goals)"),
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
        rows.append(("calls per goal, ours / naive", f"{total_ours / total_naive:.2f}", ""))
    rows.append(("delivery, goals/s (Collector latency 0)", f"{speed:.0f}", ""))
    print(
        f"\n{args.conversations} conversations, latency {args.latency * 1000:.0f} ms, "
        f"budget {args.budget}/{args.window}s, concurrency {concurrency}\n"
    )
    width = max(len(r[0]) for r in rows)
    print(f"{'':<{width}}  {'syncer':>10}  {'naive':>12}")
    for name, mine, theirs in rows:
        print(f"{name:<{width}}  {mine:>10}  {theirs:>12}")


if __name__ == "__main__":
    main()
