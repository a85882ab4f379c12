"""`syncer sync` fills the outbox: a kill mid-scan loses nothing; status reports what is there."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, config_text
from tests.truth import expected_goals

SYNC = "settle = 0\nslice = 3600\n"
ENV = {**os.environ, "INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN, "ABSMARTLY_API_KEY": COLLECTOR_KEY}


def outbox_rows(db: Path) -> set[tuple]:
    with sqlite3.connect(db) as conn:
        return set(conn.execute("SELECT key, name, achieved_at, units, properties FROM outbox"))


def sync_command(config: Path, since: str) -> list[str]:
    return [sys.executable, "-m", "syncer", "--config", str(config), "sync", "--since", since]


def test_killed_scan_then_rerun_gives_the_same_outbox(
    fake_intercom: FakeIntercom, fake_collector: FakeCollector, tmp_path: Path, now: int
) -> None:
    """SIGKILL in the middle of a scan, then a re-run: the outbox equals an uninterrupted run's."""
    since = time.strftime("%Y-%m-%d", time.gmtime(now - 9 * 86_400))
    whole_db, killed_db = tmp_path / "whole.db", tmp_path / "killed.db"
    whole = tmp_path / "whole.toml"
    url = fake_collector.url
    whole.write_text(config_text(fake_intercom.url, whole_db, collector_url=url, sync=SYNC))
    killed = tmp_path / "killed.toml"
    killed.write_text(config_text(fake_intercom.url, killed_db, collector_url=url, sync=SYNC))

    first = subprocess.run(sync_command(whole, since), env=ENV, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    calls = len(fake_intercom.requests)

    fake_intercom.latency = 0.005
    fake_intercom.requests.clear()
    process = subprocess.Popen(sync_command(killed, since), env=ENV, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(fake_intercom.requests) < calls // 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    partial = outbox_rows(killed_db)

    fake_intercom.latency = 0
    subprocess.run(sync_command(killed, since), env=ENV, check=True, capture_output=True)
    assert 0 < len(partial) < len(outbox_rows(whole_db)), "the kill landed mid-scan"
    assert outbox_rows(killed_db) == outbox_rows(whole_db)
    truth = expected_goals(fake_intercom.workspace, now - 9 * 86_400, now)
    assert {row[0] for row in outbox_rows(killed_db) if row[3]} == set(truth)


def test_same_window_again_adds_nothing(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    """A second run over the same window stores no new event."""
    config = write_config(
        config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
    )
    first = cli("--config", str(config), "sync", "--since", "2000-01-01")
    assert first.code == 0, first.err
    again = cli("--config", str(config), "sync", "--since", "2000-01-01")
    assert again.code == 0, again.err
    assert ": 0 new events stored" in again.err  # plural for zero, as in English


def test_status_reports_cursors_counts_and_reasons(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
    monkeypatch,
) -> None:
    """After a catch-up: a live cursor per scan, counts by status, unattributed reasons."""
    config = write_config(
        config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
    )
    assert cli("--config", str(config), "sync", "--since", "2000-01-01").code == 0
    monkeypatch.delenv("INTERCOM_ACCESS_TOKEN")  # status needs no secret
    result = cli("--config", str(config), "status", "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert [c["name"] for c in summary["cursors"]] == sorted(
        ["conversation_rated", "conversation_started", "ticket_created", "user_messaged"]
    )
    truth = expected_goals(fake_intercom.workspace, 0, now)
    assert summary["outbox"]["sent"] == len(truth)
    assert summary["outbox"]["pending"] == 0
    reasons = {r["reason"] for r in summary["unattributed_reasons"]}
    assert reasons == {"contact has no external_id (unit user_id)"}
    text = cli("--config", str(config), "status")
    assert "unattributed:" in text.out and "last error  none" in text.out


def test_status_without_database_says_so(
    write_config: Callable, cli: Callable, tmp_path: Path
) -> None:
    """Status before any sync: one line, exit 1, and no database is created."""
    config = write_config(config_text("https://api.intercom.io", tmp_path / "none.db"))
    result = cli("--config", str(config), "status")
    assert result.code == 1
    assert "no database yet" in result.err
    assert not (tmp_path / "none.db").exists()
