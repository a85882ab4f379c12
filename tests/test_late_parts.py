"""A search index that shows a conversation first and its parts later: no fetch decision
rests on the first item it showed (issue 27, item 1).

A contact's second message in the same second as the opening moves no time field; only
`statistics.count_conversation_parts` grows when the index takes it in. The progress kept
per conversation holds that count, so a grown count is fetched again, by the live scans
(inside their overlap) and by the reconciliation pass (behind the cursor).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from syncer import detect, pipeline
from syncer.daemon import run_cycle
from syncer.detect import Window
from syncer.kinds import SCANS
from syncer.learned import PartsReading
from syncer.store import db as db_mod
from syncer.store.db import open_database
from syncer.store.state import Progress
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace
from tests.clock import Clock
from tests.conftest import INTERCOM_TOKEN, config_text
from tests.test_cycle import cycle_context
from tests.truth import expected_deliveries

INDEX_LAG = 15  # the search index, behind the objects; more than `settle`
PART_LAG = 30  # a part reaches the index this long after the change before it
SETTLE = 10
READINGS = {"parts": detect.PARTS, "with_opening": detect.WITH_OPENING}
PATHS = {
    # The overlap re-reads every conversation the index shows again within 300 s.
    "live": f"settle = {SETTLE}\noverlap = 300\nreconcile_interval = 0\n",
    # No overlap: the live scans pass each conversation once; reconciliation reads again.
    "reconciled": f"settle = {SETTLE}\noverlap = 0\nreconcile_interval = 60\n",
}
# The scan of "user messaged": the one whose search items may be the whole conversation.
[_KIND] = SCANS["user_messaged"]([])


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("reading", list(READINGS))
def test_a_second_message_in_the_opening_second_indexed_late_is_delivered_once(
    reading: str,
    path: str,
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
    now: int,
) -> None:
    """Six conversations, each opened by a contact who writes again in the same second; the
    index shows each 15 s late with the opening alone, and the second message 30 s after
    that. The syncer trusts the workspace's own count reading (the fetch-skip at its
    boldest). Every message arrives, none twice, by the live overlap or by reconciliation."""
    clock = Clock(now)
    ws = Workspace(parts_reading=reading, part_lag=PART_LAG)
    with FakeIntercom(ws, token=INTERCOM_TOKEN, clock=clock, search_lag=INDEX_LAG) as fake:
        config = write_config(
            config_text(
                fake.url, tmp_path / "s.db", collector_url=fake_collector.url, sync=PATHS[path]
            )
        )
        with cycle_context(config) as (ctx, pub):
            ctx.parts = PartsReading(READINGS[reading])
            t0 = int(clock())
            run_cycle(ctx, pub, now=t0)  # pins the cursors
            for step in range(36):  # six minutes of 10 s cycles, activity in the first two
                at = clock.advance(10)
                if step % 2 == 0 and step < 12:
                    user = ws.add_contact(external_id=f"late-{step}")
                    conv = ws.start_conversation(user, at)
                    ws.add_part(conv, at, author_type="user", author_id=user)
                run_cycle(ctx, pub, now=at)
            end = int(clock())
    expected = expected_deliveries(ws, t0, end)
    messaged = [key for key in expected.elements() if key[0] == "intercom_user_messaged"]
    assert len(messaged) == 12  # the openings and the same-second second messages
    assert Counter(fake_collector.goal_keys()) == expected


def _item(count: int, reply: int = 100, created: int = 100, updated: int = 100) -> dict:
    return {
        "id": "1",
        "created_at": created,
        "updated_at": updated,
        "source": {"author": {"type": "user", "id": "5"}},
        "statistics": {"last_contact_reply_at": reply, "count_conversation_parts": count},
    }


def test_a_grown_count_or_update_is_read_again_and_an_unchanged_item_is_not() -> None:
    """The decision per item: a part the count or `updated_at` shows beyond what was read
    fetches again; the same item (or an older view of it) does not; a marker before the
    window's start reads again as before."""
    kind, window = _KIND, Window(50, 200)
    read = Progress(100, 50, {"statistics.count_conversation_parts": 1, "updated_at": 100})
    assert not pipeline.moved(kind, _item(1), 100, read, window)
    assert not pipeline.moved(kind, _item(0), 100, read, window)  # an older replica
    assert pipeline.moved(kind, _item(2), 100, read, window)  # the same second, one part more
    assert pipeline.moved(kind, _item(1, updated=101), 100, read, window)
    assert pipeline.moved(kind, _item(1, reply=101), 101, read, window)
    assert pipeline.moved(kind, _item(1), 100, read, Window(40, 200))
    assert pipeline.moved(kind, _item(1), 100, None, window)


@pytest.mark.parametrize("reading", [detect.PARTS, detect.WITH_OPENING])
def test_a_row_from_before_0005_is_fetched_once_only_where_the_opening_alone_made_it(
    reading: str,
) -> None:
    """A row that kept the marker alone: a conversation whose contact wrote only the
    opening (its progress may have come from an item showing the opening alone) is fetched
    when the item shows more; one with a later reply (progress came from a fetch) is
    trusted as before; an item still showing the opening alone is not fetched."""
    kind, window = _KIND, Window(50, 200)
    base = 1 if reading == detect.WITH_OPENING else 0
    legacy = Progress(100, 50, {}, legacy=True)
    assert pipeline.moved(kind, _item(base + 1), 100, legacy, window, reading)
    assert not pipeline.moved(kind, _item(base), 100, legacy, window, reading)
    later = Progress(150, 50, {}, legacy=True)
    assert not pipeline.moved(kind, _item(base + 7, reply=150), 150, later, window, reading)


def test_rows_written_before_0005_survive_the_migration_as_legacy(database_url: str) -> None:
    """Upgrading a 0004 database keeps its progress rows, marked as read without fields; a
    row written after keeps what was read (SQLite and PostgreSQL)."""
    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(db_mod._alembic_config(conn), "0004")
        conn.execute(
            text(
                "INSERT INTO progress (conversation_id, last_contact_reply_at, floor) "
                "VALUES ('7', 100, 50)"
            )
        )
    engine.dispose()
    store = open_database(database_url)
    try:
        assert store.progress(["7"]) == {"7": Progress(100, 50, {}, legacy=True)}
        fresh = Progress(120, 50, {"statistics.count_conversation_parts": 3, "updated_at": 121})
        store.store_page([], {"7": fresh})
        assert store.progress(["7"]) == {"7": fresh}
    finally:
        store.close()
