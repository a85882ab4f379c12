"""The publisher against the fake Collector: answers judged, failures backed off, nothing lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from syncer.absmartly.payload import build_requests
from syncer.absmartly.publisher import Publisher, deliver, judge
from syncer.errors import CollectorAuthError
from syncer.store import outbox
from syncer.store.db import open_database
from syncer.store.outbox import Goal
from syncer.store.store import Store as Database
from syncer.testing.fake_collector import FakeCollector
from tests.absmartly.support import fill, settings, statuses


@pytest.fixture
def publisher(db: Database, fake_collector: FakeCollector) -> Iterator[Publisher]:
    pub = Publisher(settings(fake_collector), db)
    yield pub
    pub.close()


def test_everything_due_is_sent_once(
    db: Database, fake_collector: FakeCollector, publisher: Publisher
) -> None:
    """All pending goals reach the Collector once and are marked sent."""
    fill(db, 30)
    result = publisher.drain()
    assert (result.sent, result.waiting) == (30, 0)
    assert len(fake_collector.goal_keys()) == 30
    assert statuses(db)["sent"] == 30
    assert publisher.drain().sent == 0
    assert len(fake_collector.goal_keys()) == 30


def test_a_refilter_while_a_batch_is_in_flight_neither_hides_nor_doubles_it(
    db: Database, fake_collector: FakeCollector, publisher: Publisher, tmp_path: Path
) -> None:
    """`outbox resolve --refilter` is an operator's command beside the daemon: it may mark a
    pending goal filtered while the Collector is taking it. What the Collector took is sent;
    a refilter that admits it again finds nothing to send."""
    fill(db, 6)
    operator = open_database(f"sqlite:///{tmp_path / 's.db'}", lock=False)

    def refilter(filtered: bool) -> None:
        goals = operator.unattributed(0, 100, statuses=outbox.OPEN)
        changed = (replace(g, filtered=filtered, reason="x" if filtered else None) for g in goals)
        operator.reresolve(changed, outbox.OPEN)

    def accept_after_a_refilter(goal: dict) -> str | None:
        if not fake_collector.bodies:  # during the first body, before it is answered
            refilter(True)
        return None

    fake_collector.reject = accept_after_a_refilter
    try:
        assert publisher.drain().sent == 6
        assert statuses(db)["sent"] == 6 and statuses(db)["filtered"] == 0
        refilter(False)  # the filter changed back
        assert statuses(db)["pending"] == 0
        assert publisher.drain().sent == 0
    finally:
        operator.close()
    assert len(fake_collector.goal_keys()) == 6


def test_batches_hold_at_most_batch_size_requests(
    db: Database, fake_collector: FakeCollector
) -> None:
    """With batch_size 4, ten unit sets take three batch requests."""
    fill(db, 10)
    pub = Publisher(replace(settings(fake_collector), batch_size=4), db)
    try:
        assert pub.drain().sent == 10
    finally:
        pub.close()
    assert [len(body["requests"]) for body in fake_collector.bodies] == [4, 4, 2]


def test_rejected_by_index_are_dead_the_rest_sent(
    db: Database, fake_collector: FakeCollector, publisher: Publisher
) -> None:
    """200 ok:false with per-goal errors: those goals dead with the message, others sent."""
    fill(db, 6)
    fake_collector.reject = lambda g: (
        "goal is unknown" if g["achievedAt"] % 1_000_000 % 3 == 0 else None
    )
    result = publisher.drain()
    assert (result.sent, result.dead) == (4, 2)
    with db.engine.connect() as conn:
        dead = outbox.listing(conn, ["dead"], 10)
    assert {r.achieved_at for r in dead} == {1_000_000, 1_000_003}
    assert {r.reason for r in dead} == {"rejected: goal is unknown"}


def test_invalid_request_400_leaves_the_rest_pending_and_sends_them_next() -> None:
    """A 400 naming one request: that one is dead, the others are sent again, not assumed."""
    goals = [Goal(f"k{i}", "x", "n", 1, (("u", f"{i}"),), {}, {}, id=i) for i in (1, 2)]
    requests = build_requests(goals, hashed=False)
    body = {"ok": False, "errors": [{"batchIndex": 1, "message": "bad uid"}]}
    verdict = judge(400, body, requests, batch=True)
    assert verdict.dead == {2: "rejected: bad uid"}
    assert verdict.sent == []


def test_401_stops_without_marking_and_names_the_variable(
    db: Database, fake_collector: FakeCollector
) -> None:
    """A refused key raises at once; every goal is still pending; the key is not shown."""
    fill(db, 5)
    pub = Publisher(settings(fake_collector, key="wrong-key-value"), db)
    try:
        with pytest.raises(CollectorAuthError) as caught:
            pub.drain()
    finally:
        pub.close()
    assert "$ABSMARTLY_API_KEY" in str(caught.value)
    assert "wrong-key-value" not in str(caught.value)
    assert statuses(db)["pending"] == 5


def test_missing_batch_route_falls_back_and_remembers(
    db: Database, fake_collector: FakeCollector
) -> None:
    """404 on /context/batch: one PUT /context per request, and later publishers go direct."""
    fake_collector.batch_route = False
    fill(db, 3)
    first = Publisher(settings(fake_collector), db)
    assert first.drain().sent == 3
    first.close()
    paths = [(p, s) for _, p, s in fake_collector.requests]
    assert paths[0] == ("/v1/context/batch", 404)
    assert paths[1:] == [("/v1/context", 200)] * 3
    fill_more = [Goal("later", "x", "n", 5, (("u", "z"),), {}, {})]
    with db.engine.begin() as conn:
        outbox.insert_new(conn, fill_more)
    second = Publisher(settings(fake_collector), db)
    assert second.drain().sent == 1
    second.close()
    assert fake_collector.requests[-1][1] == "/v1/context"
    assert [p for _, p, _ in fake_collector.requests].count("/v1/context/batch") == 1


def test_transient_failure_backs_off_without_busy_looping(
    db: Database, fake_collector: FakeCollector, publisher: Publisher
) -> None:
    """A 503 ends the drain with a backoff; draining again at once makes no request."""
    fill(db, 3)
    fake_collector.outage = 503
    result = publisher.drain()
    assert result.error == "Collector answered 503"
    assert publisher.retry_at > time.time()
    made = len(fake_collector.requests)
    assert publisher.drain().requests == 0
    assert len(fake_collector.requests) == made
    with db.engine.connect() as conn:
        [row] = outbox.listing(conn, ["pending"], 1)[:1]
    assert row.attempts == 1 and row.last_error == "Collector answered 503"


def test_retry_after_is_honoured(
    db: Database, fake_collector: FakeCollector, publisher: Publisher
) -> None:
    """429 with Retry-After: 7 holds the next attempt off at least 7 seconds."""
    fill(db, 1)
    fake_collector.fail_next = [(429, {"Retry-After": "7"})]
    before = time.time()
    publisher.drain()
    assert publisher.retry_at >= before + 7


@pytest.mark.parametrize("fault", ["not_json", "drop", "hang"])
def test_unreadable_answers_keep_goals_pending(
    db: Database, fake_collector: FakeCollector, fault: str
) -> None:
    """No usable answer (not JSON, a dropped connection, a timeout): nothing marked sent."""
    fill(db, 2)
    if fault == "not_json":
        fake_collector.not_json = 1
    elif fault == "drop":
        fake_collector.drop = True
    else:
        fake_collector.hang = 1.0
    pub = Publisher(replace(settings(fake_collector), timeout=0.3), db)
    try:
        result = pub.drain()
    finally:
        pub.close()
    assert result.error is not None
    assert statuses(db)["pending"] == 2
    assert statuses(db)["sent"] == 0


def test_outage_then_recovery_delivers_everything_with_few_requests(
    db: Database, fake_collector: FakeCollector, publisher: Publisher
) -> None:
    """A 3-second outage: retries are spaced (a handful of requests), then all is delivered."""
    fill(db, 40)
    fake_collector.outage = 503
    threading.Timer(3.0, lambda: setattr(fake_collector, "outage", None)).start()
    result = deliver(publisher, timeout=30, stop=threading.Event())
    assert result.waiting == 0
    assert result.sent == 40
    failed = [s for _, _, s in fake_collector.requests if s == 503]
    assert 1 <= len(failed) <= 5
    assert len(fake_collector.goal_keys()) == 40


def test_deliver_gives_up_after_its_timeout(
    db: Database, fake_collector: FakeCollector, publisher: Publisher
) -> None:
    """An outage longer than the timeout: deliver returns what waits, all still pending."""
    fill(db, 4)
    fake_collector.outage = 502
    started = time.monotonic()
    result = deliver(publisher, timeout=1.5, stop=threading.Event())
    assert time.monotonic() - started < 5
    assert result.waiting == 4
    assert statuses(db)["pending"] == 4
