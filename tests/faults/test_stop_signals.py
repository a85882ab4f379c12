"""SIGTERM and Ctrl-C end `syncer sync` within 10 s, whatever it waits for (a Collector
backoff, Intercom's 429s, a spent rate budget): one line on stderr, exit 130, no traceback,
and what was stored is kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, config_text

PROMISE = 10.0  # seconds from the signal to the exit
WAIT = 60.0  # generous: how long a busy machine may take to reach the moment tested
LAST_LINE = "syncer: interrupted; what was stored is kept"
KINDS = ("conversation_started", "conversation_rated", "user_messaged", "ticket_created")


class Syncing:
    """`python -m syncer sync` in a real process, its stderr read line by line as it comes."""

    def __init__(self, config: Path) -> None:
        env = {**os.environ, "INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN}
        env["ABSMARTLY_API_KEY"] = COLLECTOR_KEY
        command = [sys.executable, "-m", "syncer", "--config", str(config), "sync"]
        self.process = subprocess.Popen(
            [*command, "--since", "2000-01-01", "--publish-timeout", "600"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, ready: Callable[[list[str]], bool]) -> None:
        deadline = time.monotonic() + WAIT
        while not ready(list(self.lines)):
            assert self.process.poll() is None, "\n".join(self.lines)
            assert time.monotonic() < deadline, "\n".join(self.lines)
            time.sleep(0.05)

    def stop(self, signum: int) -> tuple[int, float, list[str]]:
        """Send the signal; the exit status, the seconds to exit, the lines said after it."""
        before = len(self.lines)
        started = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=PROMISE + WAIT)
        finally:
            seconds = time.monotonic() - started
        self._reader.join(timeout=WAIT)
        return code, seconds, self.lines[before:]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=WAIT)
        assert self.process.stderr is not None
        self.process.stderr.close()


@pytest.fixture
def start(
    tmp_path: Path, fake_collector: FakeCollector, workspace: Workspace
) -> Iterator[Callable[[FakeIntercom], Syncing]]:
    started: list[Syncing] = []

    def run(intercom: FakeIntercom) -> Syncing:
        config = tmp_path / "syncer.toml"
        text = config_text(intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
        config.write_text(text, encoding="utf-8")
        started.append(Syncing(config))
        return started[-1]

    yield run
    for syncing in started:
        syncing.close()


def count(lines: list[str], text: str) -> int:
    return sum(text in line for line in lines)


def assert_ended_in_one_line(code: int, seconds: float, after: list[str], every: str) -> None:
    assert seconds < PROMISE, f"{seconds:.1f}s to exit"
    assert code == 130, every
    assert after == [LAST_LINE], every
    assert "Traceback" not in every


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_a_collector_backoff(
    start: Callable[[FakeIntercom], Syncing],
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    signum: int,
) -> None:
    """The Collector answers 503 forever: once every scan is done and delivery waits out its
    third backoff, the signal ends it at once; every goal read stays pending."""
    fake_collector.outage = 503
    syncing = start(fake_intercom)
    syncing.wait_for(
        lambda lines: (
            all(count(lines, f"{kind}: ") for kind in KINDS)
            and count(lines, "Collector answered 503; next try in") >= 3
        )
    )
    code, seconds, after = syncing.stop(signum)
    assert_ended_in_one_line(code, seconds, after, "\n".join(syncing.lines))
    assert not fake_collector.accepted


@pytest.mark.parametrize("storm", ["searches", "everything"])
def test_sigterm_ends_an_intercom_429_storm(
    storm: str, start: Callable[[FakeIntercom], Syncing], fake_intercom: FakeIntercom
) -> None:
    """Intercom answers 429 with Retry-After: 30 to every search (every scan waits in its
    retry's backoff), or to everything (the first `GET /me` waits): SIGTERM comes, and the
    process ends at once."""
    only = {"method": "POST"} if storm == "searches" else {}
    fake_intercom.fail(429, times=10**6, headers={"Retry-After": "30"}, **only)
    syncing = start(fake_intercom)
    if storm == "searches":
        syncing.wait_for(lambda lines: count(lines, "intercom: 429 on POST ") >= len(KINDS))
    else:
        syncing.wait_for(lambda lines: count(lines, "intercom: 429 on GET /me") >= 1)
    code, seconds, after = syncing.stop(signal.SIGTERM)
    assert_ended_in_one_line(code, seconds, after, "\n".join(syncing.lines))


def test_sigterm_ends_a_wait_for_a_spent_rate_budget(
    start: Callable[[FakeIntercom], Syncing], workspace: Workspace
) -> None:
    """A budget of four requests in a window that outlasts the test: once each scan's first
    search is answered, every request waits in the pacer for the window, silently, and
    SIGTERM ends that wait."""
    window = 10**9  # seconds: the window in force ends years from now
    with FakeIntercom(workspace, token=INTERCOM_TOKEN, budget=4, window=window) as intercom:
        syncing = start(intercom)
        syncing.wait_for(lambda _: len(intercom.requests) >= 4)
        signalled = time.time()
        code, seconds, after = syncing.stop(signal.SIGTERM)
        answered = [(r.status, round(r.at - signalled, 2), r.path) for r in intercom.requests]
        # The budget's four were answered, and nothing left the pacer once stopped (a probe
        # of the window after 11 s without news would be the pacer's own, before the signal).
        assert intercom.statuses()[200] == 4, answered
        assert all(at <= 0 for _, at, _ in answered), answered
    assert_ended_in_one_line(code, seconds, after, "\n".join(syncing.lines))
