"""Two daemons on one PostgreSQL database: one active, one standing by; kill the active one
at random moments while activity flows, and nothing is lost; cut its lease session, and it
stops writing at once."""

from __future__ import annotations

import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from syncer.store.lease import LeaseKey
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, config_text, wait_until
from tests.truth import expected_deliveries

KILLS = 10
SYNC = "settle = 0\noverlap = 30\npoll_interval = 5\nlease_retry = 1\n"


class Instance:
    """One `syncer run` subprocess."""

    def __init__(self, config: Path, log: Path) -> None:
        env = {
            **os.environ,
            "INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN,
            "ABSMARTLY_API_KEY": COLLECTOR_KEY,
        }
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "syncer", "--config", str(config), "run"],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


class Activity:
    """New conversations, one every 0.2 s, until stopped: the data that flows."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.user = ws.add_contact(external_id="flowing")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Activity:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.ws.start_conversation(self.user, int(time.time()))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def active_pid(url: str) -> int | None:
    """The pid of the instance holding the lease (its lock granted), or None."""
    engine = create_engine(url)
    try:
        statement, args = LeaseKey().holding()
        with engine.connect() as conn:
            held = conn.execute(text(statement), args).scalar()
            row = conn.execute(text("SELECT holder FROM lease WHERE id = 1")).first()
    except Exception:  # the schema is not there yet
        return None
    finally:
        engine.dispose()
    match = re.search(r"pid (\d+)", row.holder) if held and row else None
    return int(match.group(1)) if match else None


def active_among(url: str, instances: list[Instance]) -> int | None:
    """The active pid, if it is one of the running instances (not one killed a moment ago)."""
    pid = active_pid(url)
    running = {i.pid for i in instances if i.process.poll() is None}
    return pid if pid in running else None


def wait_for(check: Callable[[], object], timeout: float) -> object:
    """`wait_until`, returning what `check` found (the active pid, say)."""
    found: list[object] = []
    wait_until(lambda: bool(found.append(check()) or found[-1]), timeout)
    return found[-1]


@pytest.fixture
def instances() -> Iterator[list[Instance]]:
    started: list[Instance] = []
    yield started
    for instance in started:
        instance.stop()


@pytest.mark.slow  # ten real kills and takeovers
def test_ten_kills_of_the_active_instance_lose_nothing(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    postgres_url: str,
    instances: list[Instance],
    tmp_path: Path,
    write_config: Callable[..., Path],
) -> None:
    """kill -9 the active instance ten times at random moments while conversations keep
    coming: a standby takes over each time, every goal arrives, and only goals of a batch
    in flight at a kill may arrive twice. The takeover times are printed."""
    config = write_config(
        config_text(fake_intercom.url, postgres_url, collector_url=fake_collector.url, sync=SYNC)
    )
    rng = random.Random(7)
    for n in range(2):
        instances.append(Instance(config, tmp_path / f"instance-{n}.log"))
    # A fresh database starts reading when its first cycle runs ("now"): activity begins
    # once that cycle has pinned the cursors.
    assert wait_for(lambda: fake_intercom.calls()["POST /conversations/search"], 60)
    time.sleep(1.1)
    start = int(time.time())
    takeovers: list[float] = []
    with Activity(fake_intercom.workspace):
        for kill in range(KILLS):
            active = wait_for(lambda: active_among(postgres_url, instances), 60)
            assert active, f"no active instance before kill {kill}"
            time.sleep(rng.uniform(0.5, 6.0))  # mid-cycle, mid-page, mid-delivery, idle
            victim = next(i for i in instances if i.pid == active)
            victim.process.kill()
            killed_at = time.monotonic()
            victim.process.wait()
            took = wait_for(lambda: active_among(postgres_url, instances), 60)
            assert took, f"no standby took over after kill {kill}"
            takeovers.append(time.monotonic() - killed_at)
            instances.append(Instance(config, tmp_path / f"instance-{kill + 2}.log"))
        end = int(time.time())
    expected = expected_deliveries(fake_intercom.workspace, start, end)
    arrived = wait_for(lambda: not (expected - Counter(fake_collector.goal_keys())), 90)
    got = Counter(fake_collector.goal_keys())
    print(
        f"\ntakeover after kill -9, {KILLS} times: median {statistics.median(takeovers):.2f}s, "
        f"max {max(takeovers):.2f}s; {sum(expected.values())} goals expected, "
        f"{sum(got.values())} delivered, {sum((got - expected).values())} duplicated"
    )
    assert arrived, f"lost: {sum((expected - got).values())} goals"
    # Only a batch in flight at a kill can arrive twice: one cycle's goals (at most 5 s of
    # activity, 50 goals) per kill, and each at most once more.
    extra = got - expected
    assert sum(extra.values()) <= KILLS * 50
    assert all(got[key] <= 2 * expected[key] for key in extra)
    assert max(takeovers) <= 2 * 5 + 10  # 2 x poll_interval plus the session timeout


def test_an_active_instance_cut_from_its_lease_stops_writing(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    postgres_url: str,
    instances: list[Instance],
    tmp_path: Path,
    write_config: Callable[..., Path],
) -> None:
    """Its lease session terminated under it (a partition, as PostgreSQL sees it): the
    active instance's next write fails and it exits 1, and the standby becomes active."""
    config = write_config(
        config_text(fake_intercom.url, postgres_url, collector_url=fake_collector.url, sync=SYNC)
    )
    first = Instance(config, tmp_path / "first.log")
    instances.append(first)
    assert wait_for(lambda: active_pid(postgres_url) == first.pid, 60)
    second = Instance(config, tmp_path / "second.log")
    instances.append(second)
    log = tmp_path / "second.log"
    assert wait_for(lambda: "standing by" in log.read_text(), 60), log.read_text()
    assert active_pid(postgres_url) == first.pid
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )
    engine.dispose()
    user = fake_intercom.workspace.add_contact(external_id="after-the-cut")
    fake_intercom.workspace.start_conversation(user, int(time.time()))
    assert first.process.wait(timeout=30) == 1
    assert "lost the lease" in Path(tmp_path / "first.log").read_text()
    assert wait_for(lambda: active_pid(postgres_url) == second.pid, 30)
    assert wait_for(lambda: len(fake_collector.goal_keys()) == 2, 30)
