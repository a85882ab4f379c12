"""SIGKILL at random moments: every expected goal is delivered in the end, duplicates come
only from batches in flight at a kill, and the database stays sound after every kill."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import generate
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, config_text
from tests.truth import expected_deliveries

KILLS = 30
ENV = {**os.environ, "INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN, "ABSMARTLY_API_KEY": COLLECTOR_KEY}


def sent_in_outbox(db: Path) -> Counter:
    if not db.exists():
        return Counter()
    # The database appears whole (made under another name, then renamed): a file that is
    # there has its tables, whenever the kill came.
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name, achieved_at, units FROM outbox WHERE status='sent'")
        return Counter(
            (name, at, tuple(tuple(u) for u in __import__("json").loads(units)))
            for name, at, units in rows
        )


@pytest.mark.slow  # thirty real SIGKILLs of a real process
def test_thirty_random_kills_lose_nothing(tmp_path: Path, report: Callable[..., None]) -> None:
    """30 kills during start-up, scans, publishing and commits; then a clean run."""
    rng = random.Random(20261126)
    now = int(time.time())
    ws = generate(seed=9, conversations=300, start=now - 3 * 86_400, end=now - 600)
    db = tmp_path / "s.db"
    with (
        FakeIntercom(ws, token=INTERCOM_TOKEN, latency=0.002) as intercom,
        FakeCollector(api_key=COLLECTOR_KEY) as collector,
    ):
        collector.latency = 0.01
        config = tmp_path / "s.toml"
        config.write_text(
            config_text(
                intercom.url, db, collector_url=collector.url, sync="settle = 0\nslice = 3600\n"
            ).replace('environment = "production"', 'environment = "production"\nbatch_size = 10')
        )
        command = [
            sys.executable,
            "-m",
            "syncer",
            "--config",
            str(config),
            "sync",
            "--since",
            time.strftime("%Y-%m-%d", time.gmtime(now - 4 * 86_400)),
        ]
        in_flight: Counter = Counter()
        for _ in range(KILLS):
            process = subprocess.Popen(
                command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            time.sleep(rng.uniform(0.3, 2.5))
            process.send_signal(signal.SIGKILL)
            process.wait()
            if db.exists():
                with sqlite3.connect(db) as conn:
                    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            # Accepted by the Collector but not recorded as sent: the batch in flight.
            in_flight |= Counter(collector.goal_keys()) - sent_in_outbox(db)
        final = subprocess.run(command, env=ENV, capture_output=True, text=True)
        assert final.returncode == 0, final.stderr
        truth = expected_deliveries(ws, now - 4 * 86_400, now)
        delivered = Counter(collector.goal_keys())
    lost = truth - delivered
    duplicated = delivered - truth
    report("SIGKILL at random moments", KILLS + 1, truth, delivered)
    if lost:  # say where the lost goals are, to make a failure actionable
        with sqlite3.connect(db) as conn:
            for name, at, units in list(lost)[:5]:
                rows = conn.execute(
                    "SELECT key, status, units, reason FROM outbox WHERE name=? AND achieved_at=?",
                    (name, at),
                ).fetchall()
                print("LOST", name, at, units, "outbox:", rows)
    assert not lost
    assert not (duplicated - in_flight), "a duplicate that was never in flight at a kill"
    assert sum(in_flight.values()) <= KILLS * 10 * 100  # at most one batch per kill
