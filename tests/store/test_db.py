"""The state database: migrations at start, WAL, one writer, a newer schema refused."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from syncer.errors import ConfigError, StateError
from syncer.store import outbox
from syncer.store.db import open_database
from syncer.store.outbox import Goal
from syncer.store.state import Progress


def goal(key: str, units: tuple = (("user_id", "u1"),)) -> Goal:
    return Goal(key, "conversation_started", "g", 1_000, units, {}, {"contact": {}, "facts": {}})


def test_fresh_database_is_migrated_to_head(database_url: str) -> None:
    """Opening creates the schema at head (SQLite in WAL mode), on either database."""
    db = open_database(database_url)
    try:
        with db.engine.connect() as conn:
            if db.dialect == "sqlite":
                assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0005"
            assert outbox.counts(conn) == {
                "pending": 0,
                "sent": 0,
                "dead": 0,
                "unattributed": 0,
                "filtered": 0,
            }
    finally:
        db.close()


def test_second_writer_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    """Another process holding the database makes a second writer fail at once."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time; from syncer.store.db import open_database; "
            f"db=open_database({url!r}); print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StateError, match="another syncer process is using this database"):
            open_database(url)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    open_database(url).close()  # the lock dies with its process


def test_reader_works_beside_a_writer(tmp_path: Path) -> None:
    """`status` reads without the lock, so it works while the daemon runs."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    writer = open_database(url)
    try:
        reader = open_database(url, writer=False)
        reader.close()
    finally:
        writer.close()


@pytest.mark.parametrize("at", ["migrate", "_incremental_vacuum"])
def test_a_kill_while_the_database_is_made_leaves_no_file_the_next_start_refuses(
    tmp_path: Path, at: str
) -> None:
    """The first start made the file before its schema: a SIGKILL between left an empty
    file that every later start refused as not the syncer's. Now the database appears whole
    or not at all, and the next start replaces what a killed one left."""
    path = tmp_path / "s.db"
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal; from syncer.store import db\n"
            f"db.{at} = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
            f"db.open_database({f'sqlite:///{path}'!r})",
        ],
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL
    assert not path.exists()
    assert (tmp_path / "s.db.new").exists()  # what the kill left, under another name
    store = open_database(f"sqlite:///{path}")
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            assert conn.execute(text("PRAGMA auto_vacuum")).scalar() == 2
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        store.close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("s.db.new")) == []


def test_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    """A schema revision this version does not know stops with 'upgrade the syncer'."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    db = open_database(url)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    db.close()
    with pytest.raises(StateError, match=r"written by a newer syncer .*upgrade the syncer"):
        open_database(url)


def test_a_place_that_is_no_folder_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    """A database path under a file, or under a folder that does not exist, names
    sync.database (exit status 2), and no folder is made."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConfigError, match=r"^sync\.database: the folder .*/file/sub does not"):
        open_database(f"sqlite:///{blocker / 'sub' / 's.db'}")
    with pytest.raises(ConfigError, match=r"^sync\.database: the folder .*/missing does not"):
        open_database(f"sqlite:///{tmp_path / 'missing' / 's.db'}")
    assert not (tmp_path / "missing").exists()


def test_outbox_keeps_one_row_per_key(database_url: str) -> None:
    """Inserting a key twice keeps the first; only new keys are returned (one INSERT ... ON
    CONFLICT DO NOTHING, on either database); a cursor, progress and notes round-trip."""
    db = open_database(database_url)
    try:
        read = Progress(1_795_000_000, 5, {"statistics.count_conversation_parts": 2})
        first = db.store_page([goal("a"), goal("b"), goal("a")], {"c1": read})
        assert [g.key for g in first] == ["a", "b"]
        assert [g.key for g in db.store_page([goal("b"), goal("c", ())], {})] == ["c"]
        assert (db.counts()["pending"], db.counts()["unattributed"]) == (2, 1)
        assert db.progress(["c1"]) == {"c1": read}
        db.move_cursor("ticket_created", 1_795_000_000, 1_790_000_000)
        assert db.cursor("ticket_created").last_value == 1_795_000_000  # type: ignore[union-attr]
        db.note("x", {"y": 1})
        assert db.notes()["x"] == {"y": 1}
        db.park("conversation", {"9": ("500", "GET /conversations/9")}, 10, 20)
        db.park("conversation", {"9": ("502", "GET /conversations/9")}, 5, 15)
        [parked] = db.parked()
        assert (parked.window_lo, parked.window_hi, parked.reason) == (5, 20, "502")
    finally:
        db.close()


def test_sqlite_errors_surface_as_one_state_error_line(tmp_path: Path) -> None:
    """A write SQLite refuses (here on a query-only connection) is a StateError that says
    what to do, not a driver traceback."""
    db = open_database(f"sqlite:///{tmp_path / 's.db'}")
    try:
        refused = pytest.raises(StateError, match="the database is read-only; make it writable")
        with refused, db.engine.begin() as conn:
            conn.execute(text("PRAGMA query_only = ON"))
            outbox.insert_new(conn, [goal("x")])
    finally:
        db.close()
