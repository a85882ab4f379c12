"""Odd and hostile Intercom data: the scan never crashes; what it cannot read is skipped,
counted and shown in `status`, and the rest of the page goes through."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncer import config as config_mod
from syncer import detect, pipeline, units
from syncer.detect import Unreadable, Window
from syncer.intercom.client import SearchPage
from syncer.kinds import Scan, scans_for
from syncer.pipeline import Context, Plan
from syncer.store.db import open_database
from syncer.store.store import Store as Database
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import config_text
from tests.faults import schema_data

ALL = Window(0, 2**62)
FAST = settings(
    max_examples=150,
    deadline=None,
    database=None,
    print_blob=True,  # a rare failure prints the blob that replays it (@reproduce_failure)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CONFIG = config_mod.parse(
    {
        "intercom": {"base_url": "http://127.0.0.1:9"},
        "absmartly": {"endpoint": "http://127.0.0.1:9/v1", "application": "w", "environment": "p"},
        "units": [
            {"type": "user_id", "from": "external_id"},
            {"type": "account", "from": "custom_attributes.account_id"},
        ],
        "goals": {
            "conversation_started": {
                "properties": {"e": "contact.email", "c": "company.name", "n": "contact.name"}
            }
        },
        "sync": {"database": "sqlite:////unused", "settle": 0},
    },
    env={},
)


def well_formed(events: list[detect.Event]) -> None:
    for event in events:
        assert isinstance(event.key, str) and event.key
        assert isinstance(event.achieved_at, int) and event.achieved_at >= 0
        json.dumps(dict(event.facts))  # storable as it is


@FAST
@given(schema_data.conversation())
def test_conversation_detectors_read_or_refuse(conversation: dict[str, Any]) -> None:
    """Any conversation, however bent: events that are well-formed, or Unreadable."""
    for detector in (detect.conversation_started, detect.conversation_rated, detect.user_messaged):
        with contextlib.suppress(Unreadable):
            well_formed(detector(conversation, ALL))


@FAST
@given(schema_data.ticket())
def test_ticket_detector_reads_or_refuses(ticket: dict[str, Any]) -> None:
    """Any ticket, however bent: a well-formed event, nothing, or Unreadable."""
    with contextlib.suppress(Unreadable):
        well_formed(detect.ticket_created(ticket, ALL))


@FAST
@given(schema_data.contact(), schema_data.obj(schema_data.schemas()["company"]))
def test_resolution_takes_any_contact(contact: dict[str, Any], company: dict[str, Any]) -> None:
    """Units come out as strings of 1 to 640 characters, or the event is unattributed."""
    event = detect.Event("k", "conversation_started", 1, {"id": "c1"}, {"conversation.id": "1"})
    resolution = units.resolve(
        event, CONFIG.goals_of("conversation_started")[0], CONFIG.units, contact, company
    )
    assert (resolution.reason is None) == bool(resolution.units)
    for unit_type, uid in resolution.units:
        assert isinstance(uid, str) and 1 <= len(uid) <= 640 and unit_type
    json.dumps(dict(resolution.properties))
    units.company_id(contact)


class PageClient:
    """Serves given objects as one search page, and the same objects whole by id."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.by_id = {str(i.get("id")): i for i in items if isinstance(i.get("id"), str | int)}

    def search(
        self, resource: str, query: Mapping[str, Any], starting_after: str | None = None
    ) -> SearchPage:
        return SearchPage(self.items, None, len(self.items))

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        return self.by_id.get(conversation_id)

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        return {"id": contact_id, "external_id": None, "custom_attributes": []}

    def company(self, company_id: str) -> dict[str, Any] | None:
        return None


@pytest.fixture(scope="module")
def scratch(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Database, ThreadPoolExecutor]]:
    db = open_database(f"sqlite:///{tmp_path_factory.mktemp('hostile') / 's.db'}")
    with ThreadPoolExecutor(2) as pool:
        yield db, pool
    db.close()


GOOD = {
    "type": "conversation",
    "id": "good-1",
    "created_at": 1_000,
    "source": {"author": {"type": "user", "id": "c-good"}},
    "contacts": {"contacts": [{"id": "c-good", "external_id": "u-good"}]},
    "statistics": {"last_contact_reply_at": 1_000},
    "conversation_parts": {"conversation_parts": []},
}


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    print_blob=True,  # a rare failure prints the blob that replays it (@reproduce_failure)
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(st.lists(schema_data.conversation(), max_size=5), st.sampled_from(scans_for(CONFIG)[:3]))
def test_a_scan_over_hostile_pages_never_crashes(
    scratch: tuple[Database, ThreadPoolExecutor],
    hostile: list[dict[str, Any]],
    kind: Scan,
) -> None:
    """A page of bent conversations plus one good one: the scan finishes, and the good
    conversation's events are stored whatever its neighbours look like."""
    db, pool = scratch
    items = [h for h in hostile if h.get("id") != "good-1"] + [dict(GOOD)]
    ctx = Context(config=CONFIG, client=PageClient(items), store=db, pool=pool)  # type: ignore[arg-type]
    plan = Plan(f"hostile-{kind.name}", 0, 10, Window(0, 2**62))
    stats = pipeline.run_scan(ctx, kind, plan)
    assert stats.complete
    with db.engine.connect() as conn:
        keys = {row[0] for row in conn.exec_driver_sql("SELECT key FROM outbox")}
    if kind.name == "conversation_started":
        assert "conversation:good-1:started@intercom_conversation_started" in keys
    if kind.name == "user_messaged":
        assert "conversation:good-1:opening@intercom_user_messaged" in keys


def test_broken_objects_through_the_real_client_are_counted_in_status(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Through HTTP and the SDK: objects without a usable id or with odd shapes are
    skipped and counted; every readable goal is still delivered."""
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="steady-user")
    good = ws.start_conversation(user, now - 5_000)
    broken = {
        "bad-source": {"source": "not an object", "contacts": None},
        "bad-parts": {"conversation_parts": {"conversation_parts": [None, 7, {"author": "x"}]}},
        "huge": {"source": {"author": {"type": "user", "id": user}, "body": "x" * 300_000}},
    }
    for suffix, damage in broken.items():
        cid = ws.start_conversation(user, now - 4_000)
        ws.conversations[cid].update(damage)
        ws.conversations[cid]["id"] = f"{cid}-{suffix}" if suffix != "huge" else cid
    no_id = ws.start_conversation(user, now - 3_000)
    ws.conversations[no_id]["id"] = None
    ws.version += 1
    config = write_config(
        config_text(fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url)
    )
    result = cli("--config", str(config), "sync", "--since", "2000-01-01")
    assert result.code == 0, result.err
    summary = json.loads(cli("--config", str(config), "status", "--json").out)
    assert summary["skipped_objects"] >= 1
    assert "without a usable id" in summary["last_skip"]
    delivered = {(name, at) for name, at, _ in fake_collector.goal_keys()}
    assert (
        "intercom_conversation_started",
        ws.conversations[good]["created_at"] * 1000,
    ) in delivered
