"""Retention benchmark: the state database after a simulated year, with retention on and off.

    python bench/retention.py                          # a million conversations' events
    python bench/retention.py --conversations 100000

Day by day for a year it stores that day's goal events straight into the store (the guide's
properties: email, name, company; the stored source the pipeline keeps), marks them sent as
the Collector would, and runs the daemon's retention step as its cycles would that day.
Prints the database's size and bytes per event at the end, with `retain_days` = 30 and with
retention off.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from syncer.store.db import open_database  # noqa: E402
from syncer.store.outbox import Goal  # noqa: E402

DAY = 86_400
EVENTS_PER_CONVERSATION = 2.2  # the generator's mix: started, messages, some ratings, tickets
KINDS = ("conversation_started", "user_messaged", "conversation_rated", "ticket_created")


def events_of_day(day: int, count: int, start: int) -> list[Goal]:
    goals = []
    for n in range(count):
        contact = f"6{(day * count + n) % 400_000:023x}"
        at = (start + day * DAY + n * DAY // max(1, count)) * 1000
        goals.append(
            Goal(
                key=f"part:{day}-{n}",
                kind=KINDS[n % 4],
                name=f"intercom_{KINDS[n % 4]}",
                achieved_at=at,
                units=(("user_id", f"user-{contact[-8:]}"),),
                properties={
                    "user_email": f"person{contact[-6:]}@example.com",
                    "user_name": f"Person {contact[-6:]}",
                    "company": "Example Company Ltd",
                },
                source={
                    "contact": {"id": contact, "external_id": f"user-{contact[-8:]}"},
                    "facts": {"conversation.id": str(10**9 + day * count + n)},
                },
            )
        )
    return goals


def simulate(folder: Path, events: int, retain_days: int) -> tuple[int, float]:
    """(database bytes after a year, seconds it took)."""
    store = open_database(f"sqlite:///{folder / f'year-{retain_days}.db'}")
    started = time.monotonic()
    start = int(time.time()) - 365 * DAY
    per_day = events // 365
    try:
        for day in range(365):
            stored = store.store_page(events_of_day(day, per_day, start), {})
            ids = [g.id for g in store.due(len(stored) + 10)]
            store.record_delivery([i for i in ids if i is not None], {}, [], None)
            if retain_days:
                today = start + (day + 1) * DAY
                before = (today - retain_days * DAY) * 1000
                while any(store.prune(before, before, DAY).values()):
                    pass
        size = store.size() or 0
    finally:
        store.close()
    return size, time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1_000_000)
    args = parser.parse_args()
    events = int(args.conversations * EVENTS_PER_CONVERSATION)
    with tempfile.TemporaryDirectory() as folder:
        kept, kept_s = simulate(Path(folder), events, 30)
        full, full_s = simulate(Path(folder), events, 0)
    per_day = events / 365
    print(f"\na simulated year: {args.conversations:,} conversations, {events:,} events\n")
    print("| figure | retention 30 days | retention off |\n|---|---:|---:|")
    print(f"| database after a year | {kept / 2**20:.0f} MB | {full / 2**20:.0f} MB |")
    print(f"| bytes per event | {kept / events:.0f} | {full / events:.0f} |")
    print(f"| in days of full events | {kept / (full / events) / per_day:.0f} | 365 |")
    print(f"| time to simulate | {kept_s:.0f} s | {full_s:.0f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
