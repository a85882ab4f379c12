"""An operator's touch points: piping output, commands beside a running daemon, status in
plain words, one JSON shape for units."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from syncer.store.db import open_database
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.words import count
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, config_text

ENV = {**os.environ, "INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN, "ABSMARTLY_API_KEY": COLLECTOR_KEY}


def synced(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
) -> str:
    config = str(
        write_config(
            config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
        )
    )
    assert cli("--config", config, "sync", "--since", "2000-01-01").code == 0
    return config


def test_output_piped_into_head_ends_quietly(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    """`status | head -2` and `outbox list | head -1`: no BrokenPipeError, exit 0."""
    config = synced(fake_intercom, fake_collector, write_config, cli, tmp_path)
    for command in (["status"], ["outbox", "list", "--status", "sent", "--limit", "5000"]):
        syncer = subprocess.Popen(
            [sys.executable, "-m", "syncer", "--config", config, *command],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert syncer.stdout is not None and syncer.stderr is not None
        head = subprocess.run(
            ["head", "-1"], stdin=syncer.stdout, capture_output=True, check=True, timeout=60
        )
        syncer.stdout.close()  # only head reads it now: its exit closes the pipe
        err = syncer.stderr.read().decode()
        syncer.stderr.close()
        assert syncer.wait(timeout=60) == 0, err
        assert err == ""
        assert len(head.stdout.decode().splitlines()) == 1


def test_operator_commands_work_beside_a_running_daemon(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    """With the single-writer lock held (a daemon running), `outbox retry`, `outbox resolve`
    and `parked retry` still do their short work; a second `sync` is still refused."""
    config = synced(fake_intercom, fake_collector, write_config, cli, tmp_path)
    daemon = open_database(f"sqlite:///{tmp_path / 's.db'}")  # takes the lock, as `run` does
    try:
        for command in (("outbox", "retry"), ("outbox", "resolve"), ("parked", "retry")):
            result = cli("--config", config, *command)
            assert result.code == 0, (command, result.err)
        second = cli("--config", config, "sync", "--since", "2000-01-01")
        assert second.code == 1
        assert "another syncer process is using this database" in second.err
    finally:
        daemon.close()


def test_status_speaks_plain_words_and_outbox_list_is_oldest_first(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    """Scans named in words (no internal cursor names), the last cycle as a line; `outbox
    list` oldest event first, with units as {type, uid} as the dry run writes them."""
    config = synced(fake_intercom, fake_collector, write_config, cli, tmp_path)
    assert cli("--config", config, "run", "--once").code == 0
    text = cli("--config", config, "status").out
    assert "conversation started (live)" in text
    assert "@" not in text.split("outbox")[0]
    [cycle] = [line for line in text.splitlines() if line.startswith("last cycle")]
    assert "cycle:" in cycle and "{" not in cycle
    rows = [
        json.loads(line)
        for line in cli(
            "--config", config, "outbox", "list", "--status", "sent", "--json"
        ).out.splitlines()
    ]
    times = [row["achievedAt"] for row in rows]
    assert times == sorted(times)
    assert rows[0]["units"] == [{"type": "user_id", "uid": rows[0]["units"][0]["uid"]}]


def test_counts_are_said_in_words() -> None:
    """One of a thing is singular; any other number is plural."""
    assert (count(1, "unit"), count(0, "unit"), count(2, "dead event")) == (
        "1 unit",
        "0 units",
        "2 dead events",
    )
