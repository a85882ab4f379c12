"""State that stays private and small: file modes, retention without duplicates, erasure."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncer.store.db import open_database
from syncer.store.outbox import Goal
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import config_text

DAY = 86_400


@pytest.fixture(params=[0o000, 0o077], ids=["umask-0000", "umask-0077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_the_database_its_wal_and_its_lock_are_private_whatever_the_umask(
    umask: int, tmp_path: Path
) -> None:
    """0600 for the database, its -wal and -shm files and the lock file."""
    store = open_database(f"sqlite:///{tmp_path / 's.db'}")
    try:
        with store.engine.begin() as conn:  # while it is open, -wal and -shm exist
            conn.exec_driver_sql("INSERT INTO meta (key, value) VALUES ('x', '1')")
            names = ["s.db", "s.db-wal", "s.db-shm", "s.db.lock"]
            modes = {name: (tmp_path / name).stat().st_mode & 0o777 for name in names}
    finally:
        store.close()
    assert modes == dict.fromkeys(names, 0o600)


def test_a_database_others_can_read_draws_a_warning_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An existing world-readable database is named, with what to do."""
    path = tmp_path / "s.db"
    open_database(f"sqlite:///{path}").close()
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="syncer.store"):
        open_database(f"sqlite:///{path}").close()
    assert f"{path} can be read by other users" in caplog.text


def goal(key: str, at_ms: int, contact: str = "c1", units: tuple = (("user_id", "u1"),)) -> Goal:
    return Goal(
        key,
        "conversation_started",
        "intercom_conversation_started",
        at_ms,
        units,
        {"user_email": "ann@example.com"},
        {"contact": {"id": contact, "external_id": "u1"}, "facts": {}},
    )


def test_retention_keeps_keys_and_pending_goals_and_strips_the_rest(tmp_path: Path) -> None:
    """Sent goals past retention lose properties, units and source but keep key, time and
    status; a pending goal of the same age keeps everything (it is not sent yet); the
    outbox still refuses the old keys, so nothing can be stored, or sent, twice."""
    store = open_database(f"sqlite:///{tmp_path / 's.db'}")
    now = time.time()
    old, recent = int((now - 40 * DAY) * 1000), int((now - DAY) * 1000)
    try:
        stored = store.store_page([goal("old", old), goal("waits", old), goal("new", recent)], {})
        ids = {g.key: g.id for g in store.due(10)}
        assert len(stored) == 3
        store.record_delivery([ids["old"], ids["new"]], {}, [], None)
        store.prune((int(now) - 30 * DAY) * 1000, (int(now) - 30 * DAY) * 1000, DAY)
        rows = {row.key: row for row in store.listing(["sent", "pending"], 10)}
        assert (rows["old"].properties, rows["old"].source, rows["old"].units) == ("{}", "{}", None)
        assert rows["old"].status == "sent" and rows["old"].achieved_at == old
        assert json.loads(rows["waits"].properties) == {"user_email": "ann@example.com"}
        assert json.loads(rows["new"].properties) == {"user_email": "ann@example.com"}
        assert store.store_page([goal("old", old)], {}) == []
        assert store.oldest_personal() == old  # the pending one still holds its data
    finally:
        store.close()


def test_retention_in_the_daemon_then_a_catchup_over_the_period_sends_nothing(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """A catch-up over eight days, then a daemon cycle with retain_days = 1: older goals hold
    no personal data (status says from when it is kept, and counts expired unattributed
    ones); the same catch-up again sends nothing."""
    text = config_text(
        fake_intercom.url,
        tmp_path / "s.db",
        collector_url=fake_collector.url,
        sync="settle = 0\noverlap = 0\nretain_days = 1\nreresolve_days = 1\n",
    )
    config = str(write_config(text))
    assert cli("--config", config, "sync", "--since", "2000-01-01").code == 0
    sent = len(fake_collector.goal_keys())
    assert cli("--config", config, "run", "--once").code == 0
    status = json.loads(cli("--config", config, "status", "--json").out)
    assert status["oldest_personal_data"] >= time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - DAY - 60)
    )
    expired = [r for r in status["unattributed_reasons"] if r["reason"].startswith("expired")]
    assert expired and expired[0]["count"] > 0
    with sqlite3.connect(tmp_path / "s.db") as conn:
        stripped = conn.execute("SELECT count(*) FROM outbox WHERE source = '{}'").fetchone()[0]
    assert stripped > sent // 2
    assert cli("--config", config, "sync", "--since", "2000-01-01").code == 0
    assert len(fake_collector.goal_keys()) == sent


def test_forget_removes_every_trace_of_one_contact(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """`forget --email`: the contact's goals lose units, properties and sources, their
    cached contact goes, and nothing `status` or `outbox list` shows names them; another
    contact's goals are untouched, and a later catch-up sends none of the forgotten ones."""
    ws = fake_intercom.workspace
    gone = ws.add_contact(external_id="erase-me", email="erase@example.com", name="Erin")
    kept = ws.add_contact(external_id="keep-me", email="keep@example.com", name="Kim")
    fake_collector.outage = 503  # one of Erin's goals is still pending when she is forgotten
    ws.start_conversation(gone, now - 100)
    ws.start_conversation(kept, now - 90)
    props = '[goals.conversation_started.properties]\nuser_email = "contact.email"\n'
    text = config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
    config = str(write_config(text + props))
    cli("--config", config, "sync", "--since", "2000-01-01", "--publish-timeout", "1")
    result = cli("--config", config, "forget", "--email", "erase@example.com")
    assert result.code == 0
    assert result.out.startswith(f"forgot 1 contact ({gone})")
    shown = cli("--config", config, "status", "--json").out + "".join(
        cli("--config", config, "outbox", "list", "--status", s, "--json").out
        for s in ("sent", "dead", "pending", "unattributed")
    )
    for trace in ("erase@example.com", "erase-me", "Erin", gone):
        assert trace not in shown
    with sqlite3.connect(tmp_path / "s.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert "erase@example.com" not in dump and "erase-me" not in dump
    assert "keep@example.com" in dump
    fake_collector.outage = None
    assert cli("--config", config, "sync", "--since", "2000-01-01").code == 0
    uids = {u[0][1] for _, _, u in fake_collector.goal_keys()}
    assert "keep-me" in uids and "erase-me" not in uids


def test_with_retention_the_database_grows_by_stubs_only(tmp_path: Path) -> None:
    """Rounds of new goals, each sent and then older than retention: once past the first
    rounds, the database grows by less than half of what it grows by without retention
    (freed pages are reused; only small stubs accumulate)."""

    def growth(retain: bool) -> int:
        store = open_database(f"sqlite:///{tmp_path / f'grow-{retain}.db'}")
        sizes = []
        try:
            for round_ in range(8):
                batch = [goal(f"{round_}-{n}", 1_700_000_000_000 + n) for n in range(1_500)]
                store.store_page(batch, {})
                ids = [g.id for g in store.due(2_000) if g.id is not None]
                store.record_delivery(ids, {}, [], None)
                while retain and any(store.prune(2_000_000_000_000, 0, DAY).values()):
                    pass
                sizes.append(store.size() or 0)
        finally:
            store.close()
        return sizes[-1] - sizes[2]

    assert growth(retain=True) < growth(retain=False) / 2
