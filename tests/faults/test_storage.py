"""Storage faults: a full disk, a read-only filesystem, a locked database. Each gives one
clear line and exit 1, leaves the database sound, and loses nothing once it clears."""

from __future__ import annotations

import sqlite3
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import config_text
from tests.truth import against_truth, expected_deliveries


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (needs root and mount rights; skipped, and said, elsewhere)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def remount(mount: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount)], check=True)


def sound(db: Path) -> bool:
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_full_disk_stops_cleanly_and_resumes(
    small_disk: Path,
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    now: int,
    secrets: None,
    report: Callable[..., None],
) -> None:
    """The disk fills mid-scan: one line, exit 1; with space again, everything arrives once."""
    db = small_disk / "s.db"
    config = write_config(config_text(fake_intercom.url, db, collector_url=fake_collector.url))
    full = cli("--config", str(config), "sync", "--since", "2000-01-01")
    assert full.code == 1
    last = full.err.strip().splitlines()[-1]
    assert last.startswith("syncer: ") and "the disk is full" in last, full.err
    assert "Traceback" not in full.err
    assert sound(db)
    remount(small_disk, "size=64m")
    again = cli("--config", str(config), "sync", "--since", "2000-01-01")
    assert again.code == 0, again.err
    expected, got = against_truth(fake_intercom.workspace, fake_collector, now)
    report("full disk mid-scan, then space", 2, expected, got)
    assert got == expected


def test_read_only_filesystem_stops_cleanly_and_resumes(
    small_disk: Path,
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    now: int,
    secrets: None,
    report: Callable[..., None],
) -> None:
    """The filesystem turns read-only: one line, exit 1; writable again, nothing is lost."""
    remount(small_disk, "size=64m")
    db = small_disk / "s.db"
    config = write_config(config_text(fake_intercom.url, db, collector_url=fake_collector.url))
    assert cli("--config", str(config), "sync", "--since", "2000-01-01").code == 0
    ws = fake_intercom.workspace
    user = next(c for c in ws.contacts.values() if c["external_id"])["id"]
    ws.add_ticket(user, now - 100)
    remount(small_disk, "ro")
    refused = cli("--config", str(config), "sync", "--since", "2000-01-01")
    assert refused.code == 1
    assert "Read-only file system" in refused.err.strip().splitlines()[-1]
    assert "Traceback" not in refused.err
    remount(small_disk, "rw")
    assert sound(db)
    again = cli("--config", str(config), "sync", "--since", "2000-01-01")
    assert again.code == 0, again.err
    expected, got = against_truth(fake_intercom.workspace, fake_collector, now)
    report("read-only filesystem, then writable", 3, expected, got)
    assert got == expected


def test_database_locked_by_another_program(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another program holds a write lock past the busy timeout: one line, exit 1; once it
    lets go, a run delivers everything."""
    monkeypatch.setattr("syncer.store.db.BUSY_TIMEOUT_MS", 1_000)  # not the real 10 s
    db = tmp_path / "s.db"
    config = write_config(config_text(fake_intercom.url, db, collector_url=fake_collector.url))
    holder = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE IF NOT EXISTS squatter (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        locked = cli("--config", str(config), "sync", "--since", "2000-01-01")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert locked.code == 1
    lines = locked.err.strip().splitlines()
    assert any(
        line.startswith("syncer: ") and "the database is locked by another program" in line
        for line in lines
    ), locked.err
    assert "Traceback" not in locked.err
    again = cli("--config", str(config), "sync", "--since", "2000-01-01")
    assert again.code == 0, again.err
    assert Counter(fake_collector.goal_keys()) == expected_deliveries(
        fake_intercom.workspace, 0, now
    )
