"""Every command is opened one way (runtime.open_context): the state's workspace binding is
checked, and recorded, whichever command comes first, and the readings learned by one
command reach the next, whichever it is."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select

from syncer import learned
from syncer.store.db import open_database
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import generate
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, Result, config_text
from tests.truth import NAMES, expected_deliveries

DAY = 86_400


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _rows(url: str) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every table of the state, read around the syncer."""
    engine = create_engine(url)
    try:
        tables = MetaData()
        tables.reflect(engine)
        with engine.connect() as conn:
            return {
                name: sorted(tuple(map(repr, row)) for row in conn.execute(select(table)))
                for name, table in tables.tables.items()
            }
    finally:
        engine.dispose()


@pytest.fixture
def two_workspaces(now: int) -> Iterator[tuple[FakeIntercom, FakeIntercom, FakeCollector]]:
    ws = generate(seed=5, conversations=12, start=now - DAY, end=now - 600)
    other = generate(seed=6, conversations=12, start=now - DAY, end=now - 600)
    with (
        FakeIntercom(ws, token=INTERCOM_TOKEN, app_id="us") as ours,
        FakeIntercom(other, token=INTERCOM_TOKEN, app_id="eu") as theirs,
        FakeCollector(api_key=COLLECTOR_KEY) as collector,
    ):
        yield ours, theirs, collector


COMMANDS: dict[str, Callable[[int], list[str]]] = {
    "sync": lambda now: ["sync", "--since", _iso(now - DAY)],
    "sync --dry-run": lambda now: ["sync", "--since", _iso(now - DAY), "--dry-run"],
    "run --once": lambda now: ["run", "--once"],
    "run": lambda now: ["run"],
    "check": lambda now: ["check"],
    "outbox resolve": lambda now: ["outbox", "resolve"],
    "outbox resolve --refilter": lambda now: ["outbox", "resolve", "--refilter"],
    "outbox retry": lambda now: ["outbox", "retry"],
    "parked retry": lambda now: ["parked", "retry"],
    "parked drop": lambda now: ["parked", "drop", "1001"],
    "forget": lambda now: ["forget", "--contact", "1001"],
}


@pytest.mark.usefixtures("secrets")
@pytest.mark.parametrize("command", list(COMMANDS))
def test_another_workspaces_token_is_refused_before_anything_is_read_or_written(
    command: str,
    database_url: str,
    two_workspaces: tuple[FakeIntercom, FakeIntercom, FakeCollector],
    write_config: Callable[..., Path],
    cli: Callable[..., Result],
    now: int,
) -> None:
    ours, theirs, collector = two_workspaces
    first = write_config(config_text(ours.url, database_url, collector_url=collector.url))
    # A state only a catch-up has used is bound to its workspace all the same.
    assert cli("--config", str(first), "sync", "--since", _iso(now - DAY)).code == 0
    before = _rows(database_url)
    sent = len(collector.goal_keys())
    other = write_config(
        config_text(theirs.url, database_url, collector_url=collector.url), "theirs.toml"
    )

    result = cli("--config", str(other), *COMMANDS[command](now))

    assert result.code == 2, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "reads workspace 'Fake workspace eu' (eu" in lines[0]
    assert "of workspace 'Fake workspace us' (us" in lines[0]
    assert [(r.method, r.path) for r in theirs.requests] == [("GET", "/me")]
    assert _rows(database_url) == before
    assert len(collector.goal_keys()) == sent


@pytest.mark.usefixtures("secrets")
def test_the_first_command_of_any_kind_records_the_workspace(
    tmp_path: Path,
    two_workspaces: tuple[FakeIntercom, FakeIntercom, FakeCollector],
    write_config: Callable[..., Path],
    cli: Callable[..., Result],
) -> None:
    """`forget` first (it reads nothing of Intercom): the state is bound all the same, and
    a catch-up with another workspace's token then reads nothing."""
    ours, theirs, collector = two_workspaces
    database = tmp_path / "s.db"
    first = write_config(config_text(ours.url, database, collector_url=collector.url))
    assert cli("--config", str(first), "forget", "--contact", "1").code == 0
    other = write_config(config_text(theirs.url, database, collector_url=collector.url), "t.toml")
    result = cli("--config", str(other), "sync", "--since", "2026-01-01")
    assert result.code == 2
    assert [(r.method, r.path) for r in theirs.requests] == [("GET", "/me")]
    status = cli("--config", str(first), "status", "--json")
    assert "Fake workspace us" in status.out


def _bound_state(url: str, readings: learned.Readings) -> None:
    store = open_database(url)
    try:
        store.note("workspace", {"id_code": "us", "region": "US", "name": "Fake workspace us"})
        store.note(learned.NOTE, readings.note())
    finally:
        store.close()


@pytest.mark.usefixtures("secrets")
@pytest.mark.parametrize("reading", ["parts", "with_opening"])
def test_a_catch_up_learns_the_parts_reading_and_keeps_it_for_the_next_command(
    reading: str,
    tmp_path: Path,
    write_config: Callable[..., Path],
    cli: Callable[..., Result],
    now: int,
) -> None:
    """Whichever reading the workspace shows, a catch-up reports no truncated conversation
    (none is) and keeps the reading it learned from the conversations it fetched."""
    ws = generate(seed=8, conversations=60, start=now - DAY, end=now - 600, parts_reading=reading)
    with (
        FakeIntercom(ws, token=INTERCOM_TOKEN, app_id="us") as fake,
        FakeCollector(api_key=COLLECTOR_KEY) as collector,
    ):
        config = write_config(config_text(fake.url, tmp_path / "s.db", collector_url=collector.url))
        assert cli("--config", str(config), "sync", "--since", _iso(now - DAY)).code == 0
        status = cli("--config", str(config), "status", "--json")
    assert '"truncated_conversations": 0' in status.out
    store = open_database(f"sqlite:///{tmp_path / 's.db'}", writer=False)
    try:
        kept = learned.Readings.from_note(store.notes().get(learned.NOTE))
    finally:
        store.close()
    assert (kept.parts, kept.confirmed) == (reading, True)


@pytest.mark.usefixtures("secrets")
@pytest.mark.parametrize("kept", [False, True], ids=["nothing-kept", "finding-kept"])
def test_a_probe_finding_kept_by_the_daemon_reaches_a_catch_up(
    kept: bool,
    tmp_path: Path,
    write_config: Callable[..., Path],
    cli: Callable[..., Result],
    now: int,
) -> None:
    """Where the search does not match `source.delivered_as` (the bot-started scan searches
    it), the daemon's probes keep that finding, and a later `sync` checks the field on each
    item instead: every bot-started goal arrives. Without the finding they are lost."""
    since = now - DAY
    ws = generate(seed=9, conversations=80, start=since, end=now - 600)
    unindexed = frozenset({"source.delivered_as"})
    with (
        FakeIntercom(ws, token=INTERCOM_TOKEN, app_id="us", unindexed=unindexed) as fake,
        FakeCollector(api_key=COLLECTOR_KEY) as collector,
    ):
        database = tmp_path / "s.db"
        goals = "[goals.conversation_started]\nbot_started = true\n"
        text_ = config_text(fake.url, database, collector_url=collector.url, extra=goals)
        config = write_config(text_)
        found = frozenset({"source.type", "source.delivered_as"}) if kept else frozenset()
        _bound_state(f"sqlite:///{database}", learned.Readings(unsearched=found))
        assert cli("--config", str(config), "sync", "--since", _iso(since)).code == 0
        got = Counter(collector.goal_keys())
    expected = expected_deliveries(
        ws, since, now, variants=frozenset({"bot_started"}), kinds=frozenset(list(NAMES)[:4])
    )
    assert got - expected == Counter()  # nothing that should not be sent, either way
    if kept:
        assert got == expected
    else:
        lost = expected - got
        assert lost
        assert {name for name, _, _ in lost} == {"intercom_conversation_started"}
