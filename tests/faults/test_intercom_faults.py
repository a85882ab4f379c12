"""Intercom faults: each handled, and a cursor never moves past data that was not read."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from syncer import config as config_mod
from syncer.catchup import scan_window
from syncer.errors import IntercomUnavailable
from syncer.intercom.client import IntercomClient
from syncer.kinds import by_name
from syncer.pipeline import Context
from syncer.store import parking, state
from syncer.store.db import open_database
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace, generate
from tests.conftest import INTERCOM_TOKEN
from tests.truth import expected_goals

SINCE_DAYS = 4


@pytest.fixture
def ws(now: int) -> Workspace:
    return generate(seed=21, conversations=400, start=now - 3 * 86_400, end=now - 600)


@pytest.fixture
def fake(ws: Workspace) -> Iterator[FakeIntercom]:
    with FakeIntercom(ws, token=INTERCOM_TOKEN) as server:
        yield server


def make_config(fake: FakeIntercom, tmp_path: Path, unit: str = "external_id") -> config_mod.Config:
    raw = {
        "intercom": {"base_url": fake.url, "timeout": 0.5},
        "absmartly": {"endpoint": "http://127.0.0.1:9/v1", "application": "w", "environment": "p"},
        "units": [{"type": "user_id", "from": unit}],
        "sync": {"database": f"sqlite:///{tmp_path / 's.db'}", "settle": 0, "slice": 3600},
    }
    return config_mod.parse(
        raw, secrets=("intercom",), env={"INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN}
    )


def catch_up(config: config_mod.Config, now: int, attempts: int = 8) -> Counter:
    """One in-process catch-up with retries that do not sleep; returns the attributed goals.
    A scan that failed raises its error here, as `sync` reports it."""
    db = open_database(config.sync.database)
    try:
        with (
            IntercomClient(config.intercom, attempts=attempts, sleep=lambda _: None) as client,
            ThreadPoolExecutor(4) as pool,
        ):
            ctx = Context(config=config, client=client, store=db, pool=pool)
            results = scan_window(ctx, now - SINCE_DAYS * 86_400, now, now)
        failed = [stats.error for stats in results.values() if stats.error]
        if failed:
            raise IntercomUnavailable(failed[0])
        return outbox_goals(db)
    finally:
        db.close()


def outbox_goals(db: object) -> Counter:
    with db.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.exec_driver_sql(
            "SELECT name, achieved_at, units FROM outbox WHERE units IS NOT NULL"
        )
        return Counter((name, at, units) for name, at, units in rows)


def truth(ws: Workspace, now: int, field: str = "external_id") -> Counter:
    return Counter(
        (name, at, json.dumps([["user_id", uid]], separators=(",", ":")))
        for name, at, uid in expected_goals(ws, now - SINCE_DAYS * 86_400, now, field).values()
    )


def test_5xx_mid_scan_leaves_the_cursor_before_what_was_not_read(
    ws: Workspace,
    fake: FakeIntercom,
    tmp_path: Path,
    now: int,
    report: Callable[..., None],
) -> None:
    """Searches start failing mid-scan: the run stops, its cursor is below the first slice
    that failed, and the next run reads everything."""
    config = make_config(fake, tmp_path)
    fake.latency = 0.02
    outage = threading.Timer(
        0.3, lambda: fake.fail(500, times=10_000, path_prefix="/conversations/search")
    )
    outage.start()
    with pytest.raises(IntercomUnavailable):
        catch_up(config, now, attempts=2)
    outage.join()
    fake.latency = 0
    db = open_database(config.sync.database)
    with db.engine.connect() as conn:
        open_cursors = [c for c in state.all_cursors(conn) if "@" in c.name]
    db.close()
    failed = [r.body["query"]["value"][0] for r in fake.requests if r.status == 500]
    assert open_cursors, "the outage caught scans mid-way"
    for cursor in open_cursors:
        field = by_name(config)[cursor.name.split("@")[0]].spec.field
        # The query reaches a second below its slice (see window_query).
        first_failed_lo = next(q["value"] for q in failed if q["field"] == field) + 1
        assert cursor.last_value < first_failed_lo, cursor.name
    fake.faults.clear()
    got = catch_up(config, now)
    expected = truth(ws, now)
    report("Intercom 5xx until a run gives up; re-run", 2, expected, got)
    assert got == expected


@pytest.mark.parametrize(
    ("fault", "arrange"),
    [
        (
            "429 storm with Retry-After",
            lambda f: f.fail(429, times=40, headers={"Retry-After": "1"}),
        ),
        ("5xx burst", lambda f: [f.fail(s, times=2) for s in (500, 502, 503)]),
        (
            "timeouts (answers slower than the client waits)",
            lambda f: f.fail(200, times=6, delay=0.8),
        ),
        ("starting_after cycles back to page one", lambda f: setattr(f, "cycle_pages", 5)),
    ],
)
def test_transient_faults_are_absorbed(
    ws: Workspace,
    fake: FakeIntercom,
    tmp_path: Path,
    now: int,
    fault: str,
    arrange: Callable[[FakeIntercom], object],
    report: Callable[..., None],
) -> None:
    """Each fault is retried or re-read; the outbox ends exactly as the truth."""
    arrange(fake)
    got = catch_up(make_config(fake, tmp_path), now)
    expected = truth(ws, now)
    report(f"Intercom: {fault}", 1, expected, got)
    assert got == expected


def test_conversation_deleted_between_search_and_fetch(
    ws: Workspace, fake: FakeIntercom, tmp_path: Path, now: int
) -> None:
    """A 404 on fetch: that conversation's messages are gone; everything else arrives."""
    victim = next(
        c
        for c in ws.conversations.values()
        if c["conversation_parts"]["conversation_parts"]
        and c["statistics"]["last_contact_reply_at"]
    )
    fake.fail(404, times=100, path_prefix=f"/conversations/{victim['id']}")
    got = catch_up(make_config(fake, tmp_path), now)
    parts = victim["conversation_parts"]["conversation_parts"]
    gone = {f"part:{p['id']}@intercom_user_messaged" for p in parts}
    gone.add(f"conversation:{victim['id']}:opening@intercom_user_messaged")
    goals = expected_goals(ws, now - SINCE_DAYS * 86_400, now)
    expected = Counter(
        (name, at, json.dumps([["user_id", uid]], separators=(",", ":")))
        for key, (name, at, uid) in goals.items()
        if key not in gone
    )
    assert got == expected


def test_merged_contact_is_followed_to_its_canonical_contact(
    ws: Workspace, fake: FakeIntercom, tmp_path: Path, now: int
) -> None:
    """Units by email: a contact merged away (410, as from 2.16) is read from the contact it
    became."""
    fake.merged_status = 410
    lead = ws.add_contact(role="lead", email=None)
    conv = ws.start_conversation(lead, now - 7_000)
    user = ws.add_contact(external_id="merged-into", email="merged@example.com")
    ws.contacts[lead]["email"] = None
    ws.merged[lead] = user
    del ws.contacts[lead]
    ws.version += 1
    got = catch_up(make_config(fake, tmp_path, unit="email"), now)
    units = '[["user_id","merged@example.com"]]'
    assert ("intercom_conversation_started", (now - 7_000) * 1000, units) in got
    assert conv in ws.conversations


def test_more_than_500_parts_is_counted_and_shown(
    ws: Workspace,
    fake: FakeIntercom,
    tmp_path: Path,
    now: int,
    cli: Callable,
    write_config: Callable,
) -> None:
    """Intercom returns the newest 500 parts: older contact messages of such a conversation
    cannot be read back; the catch-up says so in `status`."""
    user = next(c for c in ws.contacts.values() if c["external_id"])["id"]
    conv = ws.start_conversation(user, now - 20_000)
    early = ws.add_part(conv, now - 19_000, author_type="user", author_id=user)
    for i in range(505):
        ws.add_part(conv, now - 18_000 + i, author_type="admin", author_id="7")
    late = ws.add_part(conv, now - 1_000, author_type="user", author_id=user)
    config = make_config(fake, tmp_path)
    catch_up(config, now)
    catch_up(config, now)  # the overlap read again does not count it twice
    db = open_database(config.sync.database)
    with db.engine.connect() as conn:
        keys = {k for (k,) in conn.exec_driver_sql("SELECT key FROM outbox")}
        truncated = parking.skipped_summary(conn, parking.TRUNCATED)
    db.close()
    assert f"part:{late}@intercom_user_messaged" in keys
    assert f"part:{early}@intercom_user_messaged" not in keys  # beyond what Intercom returns
    assert truncated == (1, f"conversation {conv}: 7 older parts beyond Intercom's 500")
