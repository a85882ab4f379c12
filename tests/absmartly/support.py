"""What the publisher's tests share: a Collector's settings, an outbox to fill, its counts."""

from __future__ import annotations

from collections.abc import Sequence

from syncer.config import CollectorSettings
from syncer.store import outbox
from syncer.store.outbox import Goal
from syncer.store.store import Store
from syncer.testing.fake_collector import FakeCollector
from tests.conftest import COLLECTOR_KEY


def settings(collector: FakeCollector, key: str = COLLECTOR_KEY) -> CollectorSettings:
    return CollectorSettings(
        endpoint=collector.url,
        api_key_env="ABSMARTLY_API_KEY",
        application="www",
        environment="production",
        api_key=key,
    )


def store_goals(db: Store, goals: Sequence[Goal]) -> None:
    with db.engine.begin() as conn:
        outbox.insert_new(conn, goals)


def fill(db: Store, count: int, units_per: int = 1) -> list[str]:
    goals = [
        Goal(
            f"k{i}",
            "conversation_started",
            "intercom_conversation_started",
            1_000_000 + i,
            (("user_id", f"u{i // units_per}"),),
            {},
            {"contact": {}, "facts": {}},
        )
        for i in range(count)
    ]
    store_goals(db, goals)
    return [g.key for g in goals]


def statuses(db: Store) -> dict[str, int]:
    with db.engine.connect() as conn:
        return outbox.counts(conn)


def dead_reasons(db: Store) -> dict[str, str]:
    """key -> reason of every dead goal."""
    with db.engine.connect() as conn:
        return {row.key: row.reason for row in outbox.listing(conn, ["dead"], 1_000_000)}
