"""Catch-up benchmark: the syncer's own `sync --since` against a naive strategy, side by side.

    python bench/bench.py                       # 10,000 conversations
    python bench/bench.py --conversations 100000
    python bench/bench.py filters               # the same catch-up with `where` filters

Serves a generated workspace from the fake Intercom on 127.0.0.1 with a per-call latency
(150 ms by default, like a real API across the internet) and Intercom's real rate budget
(1,667 calls per 10-second window), runs `syncer sync --since` (a subprocess, the real CLI)
into the fake Collector, then the naive strategy written here: search `updated_at` over the
window and GET every conversation it returns. Then it keeps the workspace busy for a few
rounds of new support activity (the generator's own mix, stamped "now"), each read by one
`syncer run --once` (the daemon's cycle) and by one naive poll. Prints a table of figures;
every comparison is a ratio measured in the same run.

`filters` runs the catch-up four times on one workspace, decorated with tags, a contact
attribute and a segment: the default goals alone; with two goals filtering on a conversation
tag and on a contact custom attribute; with one filtering on a segment; with the segment
goal and the attribute goal together. It prints the calls by route of each, the lookups the
filters added against the distinct contacts they needed, the filtered goals delivered
against the workspace's own record, and wall time / floor.
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
from collections.abc import Sequence
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
    intercom: FakeIntercom,
    collector: FakeCollector,
    folder: Path,
    concurrency: int,
    *,
    name: str = "bench",
    goals: str = "",
) -> Path:
    """The config of one run, its database `name`.db; `goals` ([[goal]] tables) or the
    default goals."""
    config = folder / f"{name}.toml"
    config.write_text(
        f'[intercom]\nbase_url = "{intercom.url}"\nconcurrency = {concurrency}\n'
        f'[absmartly]\nendpoint = "{collector.url}"\napplication = "www"\n'
        f'environment = "production"\n[[units]]\ntype = "user_id"\nfrom = "external_id"\n'
        f'[sync]\ndatabase = "sqlite:///{folder / f"{name}.db"}"\nsettle = 0\n{goals}'
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


# -- filters ---------------------------------------------------------------------------------

# The default config's goals, as [[goal]] rules (with rules, only the goals listed run).
DEFAULT_RULES = "".join(
    f'[[goal]]\nkind = "{kind}"\nname = "intercom_{kind}"\n'
    for kind in ("conversation_started", "conversation_rated", "user_messaged", "ticket_created")
)
TAG_RULE = (
    '[[goal]]\nkind = "conversation_started"\nname = "billing_started"\n'
    'where.conversation.tags = "Billing"\n'
)
ATTRIBUTE_RULE = (
    '[[goal]]\nkind = "conversation_started"\nname = "vip_started"\n'
    'where.contact.custom_attributes.tier = "vip"\n'
)
SEGMENT_RULE = (
    '[[goal]]\nkind = "conversation_started"\nname = "trial_started"\n'
    'where.contact.segments = "Trial"\n'
)


@dataclass
class Decoration:
    billing: set[str]  # conversations tagged Billing
    vip: set[str]  # contacts whose custom attribute tier is "vip"
    trial: set[str]  # contacts in the segment Trial


def decorate(ws: Workspace, rng: random.Random) -> Decoration:
    """Tags, a contact attribute and a segment on a generated workspace, leaving everything
    the default goals read as it was: a fifth of the conversations tagged Billing and a tenth
    Bug (at their opening, `updated_at` unmoved), a tenth of the contacts `tier = "vip"` and
    some "standard", three in ten in the segment Trial."""
    billing_tag, bug_tag = ws.add_tag("Billing"), ws.add_tag("Bug")
    decoration = Decoration(set(), set(), set())
    for conv_id, conv in ws.conversations.items():
        draw = rng.random()
        if draw < 0.3:
            tag = billing_tag if draw < 0.2 else bug_tag
            ws.tag_conversation(conv_id, tag, conv["created_at"], moves_updated_at=False)
            if tag == billing_tag:
                decoration.billing.add(conv_id)
    segment = ws.add_segment("Trial")
    for contact_id, contact in ws.contacts.items():
        draw = rng.random()
        if draw < 0.5:
            contact["custom_attributes"]["tier"] = "vip" if draw < 0.1 else "standard"
            if draw < 0.1:
                decoration.vip.add(contact_id)
        if rng.random() < 0.3:
            ws.put_in_segment(contact_id, segment)
            decoration.trial.add(contact_id)
    return decoration


def started_events(ws: Workspace, since: int, until: int) -> list[tuple[str, str]]:
    """(conversation id, contact id) of every conversation the default conversation_started
    goal counts in [since, until], from the workspace's own record."""
    return [
        (event.key.split(":")[1], event.contact_id)
        for event in ws.truth
        if event.kind == "conversation_started"
        and event.variant == ""
        and since <= event.at <= until
    ]


def looked_up(intercom: FakeIntercom) -> dict[str, list[str]]:
    """The ids each contact route of the last run asked for, repeats kept."""
    ids: dict[str, list[str]] = {}
    for request in intercom.requests:
        parts = request.path.split("?")[0].strip("/").split("/")
        if request.method == "GET" and parts[0] == "contacts" and len(parts) in (2, 3):
            route = "/".join(["GET /contacts/{id}", *parts[2:]])
            ids.setdefault(route, []).append(parts[1])
    return ids


def run_filters(args: argparse.Namespace, concurrency: int) -> None:
    now = int(time.time())
    since = now - 366 * 86_400
    ws = generate(seed=42, conversations=args.conversations, start=since + 3600, end=now - 3600)
    marks = decorate(ws, random.Random(11))
    started = started_events(ws, since, now)
    contacts = {contact for _, contact in started}
    attributable = [
        (conv, contact) for conv, contact in started if ws.contacts[contact]["external_id"]
    ]
    expected = {
        "billing_started": sum(conv in marks.billing for conv, _ in attributable),
        "vip_started": sum(contact in marks.vip for _, contact in attributable),
        "trial_started": sum(contact in marks.trial for _, contact in attributable),
    }
    variants = {
        "plain": "",
        "filters": DEFAULT_RULES + TAG_RULE + ATTRIBUTE_RULE,
        "segments": DEFAULT_RULES + SEGMENT_RULE,
        # the segment goal beside one that has the contact fetched
        "seg+attr": DEFAULT_RULES + ATTRIBUTE_RULE + SEGMENT_RULE,
    }
    runs: dict[str, Run] = {}
    delivered: dict[str, Counter[str]] = {}
    lookups: dict[str, dict[str, list[str]]] = {}
    day = time.strftime("%Y-%m-%d", time.gmtime(since))
    with (
        tempfile.TemporaryDirectory(prefix="syncer-bench-") as tmp,
        FakeIntercom(
            ws, token=TOKEN, budget=args.budget, window=args.window, latency=args.latency
        ) as intercom,
    ):
        for name, goals in variants.items():
            with FakeCollector(api_key=KEY) as collector:
                config = write_config(
                    intercom, collector, Path(tmp), concurrency, name=name, goals=goals
                )
                runs[name] = run_syncer(intercom, collector, config, "sync", "--since", day)
                delivered[name] = Counter(key[0] for key in collector.goal_keys())
                lookups[name] = looked_up(intercom)
            # the next run starts in a fresh rate window, as the first did
            time.sleep(args.window)

    print(
        f"\n{args.conversations} conversations, latency {args.latency * 1000:.0f} ms, "
        f"budget {args.budget}/{args.window}s, concurrency {concurrency}; "
        f"{len(started)} conversation_started events of {len(contacts)} distinct contacts\n"
    )
    names = list(variants)
    per_second = args.budget / args.window
    routes = sorted(set().union(*(run.calls for run in runs.values())))
    rows: list[tuple[str, ...]] = [
        (f"calls {route}", *(f"{runs[n].calls[route]}" for n in names)) for route in routes
    ]
    rows.append(("calls, all", *(f"{sum(runs[n].calls.values())}" for n in names)))
    plain = runs["plain"].calls
    rows.append(
        (
            "calls above plain",
            "-",
            *(f"{sum(runs[n].calls.values()) - sum(plain.values())}" for n in names[1:]),
        )
    )
    for goal, want in expected.items():
        got = [f"{delivered[n][goal]}" if goal in variants[n] else "-" for n in names]
        rows.append((f"goals {goal} delivered (expected {want})", *got))
    rows.append(("goals delivered, all", *(f"{runs[n].goals}" for n in names)))
    floors = {n: sum(run.calls.values()) / per_second for n, run in runs.items()}
    rows += [
        ("wall time, s", *(f"{runs[n].wall:.1f}" for n in names)),
        ("rate-limit floor (calls / budget), s", *(f"{floors[n]:.1f}" for n in names)),
        ("wall time / floor", *(f"{runs[n].wall / floors[n]:.2f}" for n in names)),
        ("429s answered", *(f"{runs[n].rate_limited}" for n in names)),
        ("peak RSS of the syncer, MB", *(f"{runs[n].peak_rss_mb or 0:.0f}" for n in names)),
    ]
    print_table("catch-up (sync --since a year ago), by goals", rows, names)

    extra: list[tuple[str, ...]] = []
    for name in names[1:]:
        tags = runs[name].calls["GET /tags"] - plain["GET /tags"]
        extra.append((f"{name}: GET /tags above plain", f"{tags}", "-", "-", "-"))
        for route, ids in sorted(lookups[name].items()):
            calls = len(ids) - len(lookups["plain"].get(route, []))
            distinct = set(ids)
            repeats = len(ids) - len(distinct)
            outside = len(distinct - contacts)
            extra.append(
                (
                    f"{name}: {route} above plain",
                    f"{calls}",
                    f"{len(distinct)}",
                    f"{repeats}",
                    f"{outside}",
                )
            )
    headers = ("calls", "distinct ids", "repeats", "not started")
    title = (
        f"lookups the filters added; {len(contacts)} distinct contacts started a conversation "
        f'("not started": ids of none of them)'
    )
    print_table(title, extra, headers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "mode",
        nargs="?",
        choices=("catch-up", "filters"),
        default="catch-up",
        help="catch-up (and ongoing) against the naive strategy; or the catch-up with filters",
    )
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
    if args.mode == "filters":
        run_filters(args, concurrency)
        return

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


def print_table(
    title: str,
    rows: Sequence[tuple[str, ...]],
    headers: Sequence[str] = ("syncer", "naive"),
) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{title}\n{'':<{width}}" + "".join(f"  {h:>12}" for h in headers))
    for name, *figures in rows:
        print(f"{name:<{width}}" + "".join(f"  {f:>12}" for f in figures))
    print()


if __name__ == "__main__":
    main()
