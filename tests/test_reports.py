"""Bounded, complete reports: a filtered row's reason stays short whatever its condition,
every list cut short says how much it left out, and the filtered are totalled per goal in
`status` and `sync --dry-run`; `outbox list` says when it stopped at its limit.

Expected counts come from the workspace as the test built it, not from the syncer."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace
from tests.conftest import INTERCOM_TOKEN, config_text

SINCE = "2000-01-01"


@pytest.fixture
def intercom() -> Iterator[FakeIntercom]:
    with FakeIntercom(Workspace(), token=INTERCOM_TOKEN) as fake:
        yield fake


def _rule(name: str, where: str) -> str:
    return f'[[goal]]\nkind = "conversation_started"\nname = "{name}"\n{where}\n'


def test_a_filter_of_20000_values_leaves_each_filtered_row_under_a_kilobyte(
    intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    ws = intercom.workspace
    starts = 30
    for i in range(starts):
        contact = ws.add_contact(external_id=f"u{i}", email=f"person{i}@example.org")
        ws.start_conversation(contact, now - 5_000 + i)
    emails = ", ".join(f'"customer{i:05}@example.com"' for i in range(20_000))
    rules = _rule("listed", f"where.contact.email = [{emails}]")
    config = write_config(config_text(intercom.url, tmp_path / "s.db", extra=rules))
    result = cli("--config", str(config), "sync", "--since", SINCE)
    assert result.code == 0, result.err  # every goal filtered: nothing waits to be sent
    with sqlite3.connect(tmp_path / "s.db") as db:
        rows = db.execute(
            "SELECT length(CAST(key AS BLOB)) + length(CAST(name AS BLOB)) "
            "+ length(CAST(source AS BLOB)) + length(CAST(properties AS BLOB)) "
            "+ length(CAST(reason AS BLOB)) + length(CAST(kind AS BLOB)), reason "
            "FROM outbox WHERE status = 'filtered'"
        ).fetchall()
    assert len(rows) == starts
    assert max(size for size, _ in rows) < 1024, max(rows)
    assert all(len(reason) <= 200 and " more (found '" in reason for _, reason in rows)
    status = json.loads(cli("--config", str(config), "status", "--json").out)
    assert status["filtered_by_goal"] == [{"goal": "listed", "count": starts}]


def test_status_totals_the_filtered_per_goal_and_says_how_many_reasons_it_left_out(
    intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Twelve contacts of twelve tiers: `tier = "none"` rejects all twelve, each with its
    own reason (what it found), so 12 reasons, 10 shown; `tier = "t0"` rejects eleven."""
    ws = intercom.workspace
    for i in range(12):
        contact = ws.add_contact(external_id=f"u{i}", custom={"tier": f"t{i}"})
        ws.start_conversation(contact, now - 5_000 + i)
    rules = _rule("nobody", 'where.contact.custom_attributes.tier = "none"')
    rules += _rule("first", 'where.contact.custom_attributes.tier = "t0"')
    config = write_config(config_text(intercom.url, tmp_path / "s.db", extra=rules))
    cli("--config", str(config), "sync", "--since", SINCE)
    status = json.loads(cli("--config", str(config), "status", "--json").out)
    assert status["filtered_by_goal"] == [
        {"goal": "nobody", "count": 12},
        {"goal": "first", "count": 11},
    ]
    text = cli("--config", str(config), "status").out
    assert "  filtered by goal: nobody 12, first 11" in text.splitlines()
    shown = [x for x in text.splitlines() if x.startswith("  filtered: ") and " x " in x]
    assert len(shown) == 10
    assert "  filtered: and 13 more reasons (13 events)" in text.splitlines(), text


def test_outbox_list_says_when_it_stopped_at_its_limit(
    intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    ws = intercom.workspace
    for i in range(5):
        ws.start_conversation(ws.add_contact(external_id=None), now - 5_000 + i)  # unattributed
    config = str(write_config(config_text(intercom.url, tmp_path / "s.db")))
    cli("--config", config, "sync", "--since", SINCE)
    stored = json.loads(cli("--config", config, "status", "--json").out)["outbox"]
    held = stored["unattributed"] + stored["dead"]
    assert held >= 5
    cut = cli("--config", config, "outbox", "list", "--limit", str(held - 1))
    assert cut.code == 0 and len(cut.out.splitlines()) == held - 1
    assert f"stopped at --limit {held - 1}" in cut.err, cut.err
    whole = cli("--config", config, "outbox", "list", "--limit", str(held))
    assert len(whole.out.splitlines()) == held and "stopped" not in whole.err
    as_json = cli("--config", config, "outbox", "list", "--limit", "2", "--json")
    assert [json.loads(line)["status"] for line in as_json.out.splitlines()] == ["unattributed"] * 2
    assert "stopped at --limit 2" in as_json.err


def test_dry_run_totals_the_filtered_per_goal_and_says_how_many_reasons_it_left_out(
    intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    ws = intercom.workspace
    for i in range(7):
        contact = ws.add_contact(external_id=f"u{i}", custom={"tier": f"t{i}"})
        ws.start_conversation(contact, now - 5_000 + i)
    rules = _rule("nobody", 'where.contact.custom_attributes.tier = "none"')
    rules += _rule("first", 'where.contact.custom_attributes.tier = "t0"')
    config = write_config(config_text(intercom.url, tmp_path / "s.db", extra=rules))
    result = cli("--config", str(config), "sync", "--since", SINCE, "--dry-run")
    assert result.code == 0, result.err
    lines = result.err.splitlines()
    assert "  filtered by goal: first 6, nobody 7" in lines, result.err
    assert sum(1 for x in lines if x.startswith("  filtered: ") and " x " in x) == 5
    assert "  filtered: and 8 more reasons (8 goals)" in lines, result.err
