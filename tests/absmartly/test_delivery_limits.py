"""Delivery never dead-letters a goal the Collector would take: bodies fit the size limit, a
413 is split down to one goal, a body refused as a whole is bisected down to the requests
really refused, and every status is either retried or final with what the answer said."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from syncer import config
from syncer.absmartly.payload import build_requests
from syncer.absmartly.publisher import Publisher, deliver, judge
from syncer.errors import ConfigError
from syncer.store.outbox import Goal
from syncer.store.store import Store
from syncer.testing.fake_collector import FakeCollector
from tests.absmartly.support import dead_reasons, settings, statuses, store_goals
from tests.conftest import COLLECTOR_KEY

GATEWAY_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>{status}</title></head>\n<body>\r\n"
    "<h1>{status}</h1><p>request with key {key} refused\x07 by the gateway</p></body></html>"
)
WORDS = [
    "thanks",
    "fixed",
    "quickly",
    "but",
    "the",
    "first",
    "answer",
    "missed",
    "my",
    "point",
    "entirely",
]


def backlog(count: int, seed: int = 19) -> list[Goal]:
    """Goals as a real workspace gives them: two units per contact (an id and an email),
    a few contacts with hundreds of goals and many with one, every kind with its
    properties, remarks up to a few hundred characters."""
    rng = random.Random(seed)
    contacts = [
        (("user_id", f"u-{rng.getrandbits(128):032x}"), ("email", f"user{n}@customer-{n % 97}.io"))
        for n in range(1_200)
    ]
    heavy = contacts[:12]
    goals = []
    for i in range(count):
        units = rng.choice(heavy) if rng.random() < 0.3 else rng.choice(contacts)
        kind, properties = _kind(rng, i)
        goals.append(
            Goal(
                f"goal:{i}",
                kind,
                f"intercom_{kind}",
                1_764_000_000_000 + i * 1_000,
                units,
                properties,
                {"contact": {"id": units[0][1]}, "facts": {}},
            )
        )
    return goals


def _kind(rng: random.Random, i: int) -> tuple[str, dict[str, object]]:
    conversation = str(215_470_000_000 + i)
    choice = rng.random()
    if choice < 0.4:
        return "user_messaged", {"conversation_id": conversation}
    if choice < 0.7:
        return "conversation_started", {"conversation_id": conversation, "company": "Acme"}
    if choice < 0.9:
        remark = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 60)))
        return "conversation_rated", {"rating": rng.randint(1, 5), "remark": remark}
    return "ticket_created", {"ticket_id": str(90_000 + i), "ticket_type": "Bug report"}


def delivered(collector: FakeCollector) -> Counter[tuple[str, int]]:
    return Counter((name, at) for name, at, _ in collector.goal_keys())


def test_a_backlog_behind_a_256_kib_limit_is_delivered_whole_once(
    db: Store, fake_collector: FakeCollector, capsys: pytest.CaptureFixture[str]
) -> None:
    """5,000 goals, a Collector answering 413 to bodies over 256 KiB, the default 512 KiB
    limit: every goal delivered once, none dead; after the first 413 the publisher packs
    smaller bodies, so 413s stay few."""
    goals = backlog(5_000)
    store_goals(db, goals)
    fake_collector.max_body = 256 * 1024
    pub = Publisher(settings(fake_collector), db)
    started = time.monotonic()
    try:
        result = deliver(pub, timeout=120, stop=threading.Event())
    finally:
        pub.close()
    seconds = time.monotonic() - started
    assert (result.sent, result.dead, result.waiting) == (5_000, 0, 0)
    assert statuses(db)["sent"] == 5_000
    got = delivered(fake_collector)
    assert got == Counter((g.name, g.achieved_at) for g in goals)  # each goal once
    answered = Counter(status for _, _, status in fake_collector.requests)
    assert max(fake_collector.sizes) <= 512 * 1024
    assert 1 <= answered[413] <= 3, answered
    with capsys.disabled():
        print(
            f"\n5,000-goal backlog behind a 256 KiB limit: {len(fake_collector.requests)} "
            f"requests ({dict(answered)}), {sum(fake_collector.sizes) / 1e6:.2f} MB sent, "
            f"{seconds:.2f}s"
        )


@pytest.mark.parametrize("batch_route", [True, False])
def test_one_goal_too_large_alone_is_the_only_one_dead(
    db: Store, fake_collector: FakeCollector, batch_route: bool
) -> None:
    """A 413 is split, batch and request alike, down to the one goal that is too large
    alone: it is dead with the 413 in its reason; its neighbours, same unit set included,
    are delivered."""
    goals = backlog(60)
    big = replace(goals[17], properties={"remark": "long " * 1_000})
    goals[17] = big
    same_units = [replace(g, key=f"{g.key}:twin", units=big.units) for g in goals[:5]]
    store_goals(db, goals + same_units)
    fake_collector.max_body = 3_000
    fake_collector.batch_route = batch_route
    pub = Publisher(settings(fake_collector), db)
    try:
        result = pub.drain()
    finally:
        pub.close()
    assert (result.sent, result.dead, result.waiting) == (64, 1, 0)
    [(key, reason)] = dead_reasons(db).items()
    assert key == big.key
    assert reason.startswith("too large for the Collector (413)")
    assert sum(delivered(fake_collector).values()) == 64


def test_a_request_refused_whole_without_detail_is_bisected_to_it(
    db: Store, fake_collector: FakeCollector
) -> None:
    """A 422 HTML page whenever one request is in the body: only that request's goals are
    dead, every other goal is delivered once, in a bounded number of requests; the reason
    holds the status and the page's words, printable, with the echoed key masked."""
    goals = backlog(400)
    store_goals(db, goals)
    refused_uid = goals[123].units[0][1]
    fake_collector.refuse = lambda request: request["units"][0]["uid"] == refused_uid
    fake_collector.error_page = GATEWAY_PAGE
    pub = Publisher(settings(fake_collector), db)
    try:
        result = pub.drain()
    finally:
        pub.close()
    refused = {g.key for g in goals if g.units[0][1] == refused_uid}
    dead = dead_reasons(db)
    assert set(dead) == refused
    assert result.sent == len(goals) - len(refused)
    assert delivered(fake_collector) == Counter(
        (g.name, g.achieved_at) for g in goals if g.key not in refused
    )
    reason = next(iter(dead.values()))
    assert reason.startswith("rejected (422): 422 Unprocessable Entity")
    assert "refused by the gateway" in reason and "[redacted]" in reason
    assert COLLECTOR_KEY not in reason and "<" not in reason
    assert reason.isprintable() and len(reason) <= 220
    assert len(fake_collector.requests) <= 2 * 9 + 2  # a bisection, not a request per goal


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 507, 599])
def test_timeouts_rate_limits_and_server_errors_are_retried(
    db: Store, fake_collector: FakeCollector, status: int
) -> None:
    """Every 5xx, 408, 425 and 429 leaves the goals pending with a backoff; the next try
    delivers them."""
    store_goals(db, backlog(20))
    fake_collector.fail_next = [(status, {})]
    fake_collector.error_page = GATEWAY_PAGE
    pub = Publisher(settings(fake_collector), db)
    try:
        first = pub.drain()
        assert first.error == f"Collector answered {status}"
        assert (first.sent, first.dead, first.waiting) == (0, 0, 20)
        pub.retry_at = 0.0  # the backoff, waited out
        assert pub.drain().sent == 20
    finally:
        pub.close()


@pytest.mark.parametrize("status", [400, 402, 404, 409, 410, 418, 422, 451])
def test_other_refusals_are_final_with_status_and_words(status: int) -> None:
    """Any other refusal of one request naming nothing is final: its goals dead, with the
    status and the start of the answer in the reason."""
    goals = [Goal(f"k{i}", "x", "n", 1, (("u", "a"),), {}, {}, id=i) for i in (1, 2)]
    requests = build_requests(goals, hashed=False)
    page = f"<html><body><h1>{status} Refused</h1>\n\t{'padding ' * 100}</body></html>"
    verdict = judge(status, None, requests, batch=False, raw=page.encode())
    assert verdict.transient is None and verdict.sent == []
    assert set(verdict.dead) == {1, 2}
    reason = verdict.dead[1]
    assert reason.startswith(f"rejected ({status}): {status} Refused padding")
    assert reason.isprintable() and len(reason) <= 220


def test_a_json_message_is_the_reason_when_there_is_one() -> None:
    """The Collector's own `{"code", "message"}` answer gives its message."""
    goals = [Goal("k1", "x", "n", 1, (("u", "a"),), {}, {}, id=1)]
    verdict = judge(
        409, {"code": 409, "message": "conflict"}, build_requests(goals, hashed=False), batch=True
    )
    assert verdict.dead == {1: "rejected (409): conflict"}


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("1000", "absmartly.max_body_bytes: must be at least 16384, got 1000"),
        ("17000000", "absmartly.max_body_bytes: must be at most 16777216, got 17000000"),
        ('"512k"', "absmartly.max_body_bytes: expected an integer, got a string"),
    ],
)
def test_max_body_bytes_is_bounded(tmp_path: Path, value: str, error: str) -> None:
    """absmartly.max_body_bytes: 16 KiB to 16 MiB, 512 KiB by default; anything else is one
    line naming the key."""
    text = (
        '[absmartly]\nendpoint = "https://acme.absmartly.io/v1"\napplication = "www"\n'
        'environment = "production"\n{extra}\n[[units]]\ntype = "user_id"\nfrom = "external_id"\n'
        '[sync]\ndatabase = "sqlite:////tmp/x.db"\n'
    )
    path = tmp_path / "c.toml"
    env = {"INTERCOM_ACCESS_TOKEN": "tok-123456", "ABSMARTLY_API_KEY": "key-123456"}
    path.write_text(text.format(extra=""), encoding="utf-8")
    assert config.load(path, env=env).absmartly.max_body_bytes == 512 * 1024
    path.write_text(text.format(extra=f"max_body_bytes = {value}"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config.load(path, env=env)
    assert str(caught.value) == error
