"""`syncer run` as a real subprocess against the fakes, with a test systemd notify socket."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncer.notify import Liveness
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace, generate
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, config_text, wait_until
from tests.truth import expected_deliveries

POLL = 5
LIVE = f"settle = 0\noverlap = 5\npoll_interval = {POLL}\n"


class NotifySocket:
    """Collects what the daemon tells systemd."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._running = True
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while self._running:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def lines(self) -> list[str]:
        return [line for message in list(self.messages) for line in message.split("\n")]

    def close(self) -> None:
        self._running = False
        self._thread.join()
        self.sock.close()


class Daemon:
    def __init__(
        self,
        config: Path,
        notify: NotifySocket | None,
        log: Path,
        args: tuple[str, ...] = (),
        **env: str,
    ) -> None:
        environment = {
            **os.environ,
            "INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN,
            "ABSMARTLY_API_KEY": COLLECTOR_KEY,
            **env,
        }
        if notify is not None:
            environment["NOTIFY_SOCKET"] = str(notify.path)
        self.path = log
        self.log = log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "syncer", "--config", str(config), *args, "run"],
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def cycles(self) -> int:
        """How many cycles the daemon has logged: it is past its start-up once one has."""
        return self.path.read_text(encoding="utf-8").count("syncer.daemon: cycle:")

    def terminate(self) -> tuple[int, float]:
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=20)
        return code, time.monotonic() - started

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:
        daemon.close()


def write(tmp_path: Path, intercom: FakeIntercom, collector: FakeCollector, sync: str) -> Path:
    path = tmp_path / "syncer.toml"
    path.write_text(
        config_text(intercom.url, tmp_path / "s.db", collector_url=collector.url, sync=sync)
    )
    return path


def test_new_activity_reaches_the_collector_within_a_poll(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    notify: NotifySocket,
    daemons: list[Daemon],
    tmp_path: Path,
) -> None:
    """Conversations, replies, ratings and tickets made while it runs are delivered within
    one poll interval; READY comes before any WATCHDOG; SIGTERM exits 0 with STOPPING."""
    config = write(tmp_path, fake_intercom, fake_collector, LIVE)
    daemon = Daemon(config, notify, tmp_path / "daemon.log")
    daemons.append(daemon)
    assert wait_until(lambda: "READY=1" in notify.lines(), 15), daemon.log.name
    assert wait_until(lambda: "WATCHDOG=1" in notify.lines(), 10)
    assert fake_collector.goal_keys() == [], "history before start is not flooded in"

    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="live-user")
    now = int(time.time())
    conv = ws.start_conversation(user, now)
    ws.add_part(conv, now + 1, author_type="user", author_id=user)
    ws.rate(conv, now + 2, 5)
    ws.add_ticket(user, now + 2)
    made = time.monotonic()
    assert wait_until(lambda: len(fake_collector.goal_keys()) == 5, POLL + 5)
    assert time.monotonic() - made <= POLL + 5
    names = Counter(name for name, _, _ in fake_collector.goal_keys())
    assert names == {
        "intercom_conversation_started": 1,
        "intercom_user_messaged": 2,
        "intercom_conversation_rated": 1,
        "intercom_ticket_created": 1,
    }
    code, seconds = daemon.terminate()
    assert (code, seconds < 10) == (0, True)
    lines = notify.lines()
    assert lines.index("READY=1") < lines.index("WATCHDOG=1")
    assert "STOPPING=1" in lines
    assert any(line.startswith("STATUS=cycle:") for line in lines)


def test_sigterm_mid_cycle_then_restart_loses_nothing_sends_nothing_twice(
    fake_collector: FakeCollector,
    notify: NotifySocket,
    daemons: list[Daemon],
    tmp_path: Path,
) -> None:
    """A first cycle over old history is stopped by SIGTERM in the middle; a restart
    finishes it: each expected goal delivered exactly once."""
    now = int(time.time())
    ws: Workspace = generate(seed=5, conversations=300, start=now - 3 * 86_400, end=now - 600)
    with FakeIntercom(ws, token=INTERCOM_TOKEN, latency=0.01) as intercom:
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 4 * 86_400))
        config = write(
            tmp_path, intercom, fake_collector, f'{LIVE}start = "{start}"\nslice = 3600\n'
        )
        first = Daemon(config, notify, tmp_path / "first.log")
        daemons.append(first)
        assert wait_until(lambda: len(intercom.requests) > 60, 30)
        code, seconds = first.terminate()
        assert code == 0 and seconds < 10
        with sqlite3.connect(tmp_path / "s.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        second = Daemon(config, None, tmp_path / "second.log")
        daemons.append(second)
        truth = expected_deliveries(ws, now - 4 * 86_400, now)
        assert wait_until(lambda: len(fake_collector.goal_keys()) >= sum(truth.values()), 60)
        # The first may have sent everything: stop the second once it is up, not by time.
        assert wait_until(lambda: second.cycles() >= 1, 60)
        assert second.terminate()[0] == 0
    assert Counter(fake_collector.goal_keys()) == truth


def test_collector_outage_delays_delivery_but_not_polling(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    daemons: list[Daemon],
    tmp_path: Path,
) -> None:
    """While the Collector is down, cycles go on reading Intercom into the outbox; when it
    returns, what waited is delivered."""
    fake_collector.outage = 503
    config = write(tmp_path, fake_intercom, fake_collector, LIVE)
    daemon = Daemon(config, None, tmp_path / "daemon.log")
    daemons.append(daemon)
    ws = fake_intercom.workspace
    # After the first cycle, which pins the fresh database's start ("now"): the start-up
    # probes search tickets too, and under load a ticket made then predates the start.
    assert wait_until(lambda: daemon.cycles() >= 1, 60)
    user = ws.add_contact(external_id="outage-user")
    ws.add_ticket(user, int(time.time()))
    searches = fake_intercom.calls()["POST /tickets/search"]

    def pending() -> int:
        with sqlite3.connect(tmp_path / "s.db") as conn:
            return conn.execute("SELECT count(*) FROM outbox WHERE status='pending'").fetchone()[0]

    # Ceilings only, for a busy machine: each wait ends as soon as its condition holds.
    assert wait_until(lambda: pending() == 1, 60)
    assert wait_until(lambda: fake_intercom.calls()["POST /tickets/search"] >= searches + 2, 60)
    assert fake_collector.goal_keys() == []
    fake_collector.outage = None
    assert wait_until(lambda: len(fake_collector.goal_keys()) == 1, 3 * POLL + 60)
    assert daemon.terminate()[0] == 0


def test_second_daemon_on_the_same_database_refuses(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    notify: NotifySocket,
    daemons: list[Daemon],
    tmp_path: Path,
) -> None:
    """One writer: the second process exits 1 at once, naming the reason."""
    config = write(tmp_path, fake_intercom, fake_collector, LIVE)
    first = Daemon(config, notify, tmp_path / "first.log")
    daemons.append(first)
    assert wait_until(lambda: "READY=1" in notify.lines(), 15)
    second = Daemon(config, None, tmp_path / "second.log")
    daemons.append(second)
    assert second.process.wait(timeout=15) == 1
    second.log.close()
    assert "another syncer process is using this database" in (tmp_path / "second.log").read_text()
    assert first.terminate()[0] == 0


def test_refused_token_exits_1_before_ready(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    notify: NotifySocket,
    daemons: list[Daemon],
    tmp_path: Path,
) -> None:
    """A bad Intercom token: one line naming the variable, exit 1, never READY."""
    config = write(tmp_path, fake_intercom, fake_collector, LIVE)
    daemon = Daemon(config, notify, tmp_path / "d.log", INTERCOM_ACCESS_TOKEN="wrong-token-1")
    daemons.append(daemon)
    assert daemon.process.wait(timeout=15) == 1
    daemon.log.close()
    output = (tmp_path / "d.log").read_text()
    assert "$INTERCOM_ACCESS_TOKEN" in output
    assert "wrong-token-1" not in output
    assert "Traceback" not in output
    assert "READY=1" not in notify.lines()


def test_liveness_pets_while_idle_or_progressing_and_stops_when_a_cycle_is_stuck() -> None:
    """Idle for any length of time: healthy. In a cycle: healthy while pages keep coming
    within the interval; a cycle with no progress for the interval: not, so systemd's
    watchdog restarts it."""
    now = [0.0]
    live = Liveness(10.0, clock=lambda: now[0])
    now[0] = 1_000.0
    assert live.healthy()  # idle for a long poll interval
    live.cycle_started()
    now[0] += 9
    live.progressed()
    now[0] += 9
    assert live.healthy()
    now[0] += 2
    assert not live.healthy()  # 11 s with no page: stuck
    live.cycle_ended()
    assert live.healthy()


def test_watchdog_pets_come_from_a_timer_while_the_daemon_idles(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    notify: NotifySocket,
    daemons: list[Daemon],
    tmp_path: Path,
) -> None:
    """With WatchdogSec shorter than the poll interval, an idle daemon still pets the
    watchdog several times per interval: systemd never kills a healthy daemon."""
    config = write(tmp_path, fake_intercom, fake_collector, LIVE)
    daemon = Daemon(config, notify, tmp_path / "daemon.log", WATCHDOG_USEC="1200000")
    daemons.append(daemon)
    assert wait_until(lambda: "READY=1" in notify.lines(), 15), daemon.log.name
    assert wait_until(lambda: any(line.startswith("STATUS=cycle:") for line in notify.lines()), 10)
    lines = notify.lines()
    before, cycles = lines.count("WATCHDOG=1"), _cycles(lines)
    # Four pets while idle: before the next cycle, POLL (5) seconds away, has ended.
    assert wait_until(
        lambda: (
            notify.lines().count("WATCHDOG=1") - before >= 4 or _cycles(notify.lines()) > cycles
        ),
        15,
    )
    assert _cycles(notify.lines()) == cycles
    assert daemon.terminate()[0] == 0


def _cycles(lines: list[str]) -> int:
    return sum(line.startswith("STATUS=cycle:") for line in lines)


def test_sigterm_during_the_start_up_checks_and_probes_ends_it_at_once(
    fake_collector: FakeCollector,
    daemons: list[Daemon],
    tmp_path: Path,
    now: int,
) -> None:
    """A stop while the daemon checks credentials and probes Intercom (a container's PID 1
    gets no default handler, so it must have its own from the start): exit 0 within 10 s,
    having read nothing."""
    ws = generate(seed=6, conversations=20, start=now - 86_400, end=now - 600)
    with FakeIntercom(ws, token=INTERCOM_TOKEN, latency=0.3) as intercom:
        daemon = Daemon(write(tmp_path, intercom, fake_collector, LIVE), None, tmp_path / "d.log")
        daemons.append(daemon)
        assert wait_until(lambda: intercom.calls()["GET /me"] >= 1, 30)
        code, seconds = daemon.terminate()
    assert code == 0 and seconds < 10, Path(daemon.log.name).read_text()
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT count(*) FROM cursors").fetchone() == (0,)  # no scan began
    assert not fake_collector.goal_keys()
