"""`syncer demo`: no config, no accounts; its table is what its fake Collector recorded, and
equals the workspace's own record of what happened. With `--config`, a file's own goals
and filters run against the demo workspace, each goal's figures again equal to that record."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

from syncer import demo
from syncer.testing.workspace import DEMO_TAGS, TrueEvent, Workspace
from tests.truth import expected_goals

ROOT = Path(__file__).resolve().parent.parent
# config.example.toml with two goals more, as the issue tries it: a low-rating filter, and a
# second goal on contacts' messages, in conversations with a tag that is not ASCII.
EXTRA_GOALS = """
[[goal]]
kind = "conversation_rated"
name = "intercom_low_rating"
where.rating.score = { lte = 2 }

[[goal]]
kind = "user_messaged"
name = "intercom_billing_message_es"
where.conversation.tags = "Facturación"
"""


def attributable(ws: Workspace, event: TrueEvent) -> bool:
    contact = ws.contacts[ws.merged.get(event.contact_id, event.contact_id)]
    return bool(contact.get("external_id"))


def score(event: TrueEvent) -> int:
    """A rating's score, from the workspace's own key for it (...:rated:CREATED:SCORE)."""
    return int(event.key.rsplit(":", 1)[1])


def conversation_of(ws: Workspace, event: TrueEvent) -> str:
    """The conversation a message event is in, from the workspace's parts."""
    if event.key.startswith("conversation:"):
        return event.key.split(":")[1]
    part = event.key.removeprefix("part:")
    for conv_id, conv in ws.conversations.items():
        parts = conv.get("conversation_parts", {}).get("conversation_parts", [])
        if any(str(p["id"]) == part for p in parts):
            return conv_id
    raise AssertionError(f"no conversation holds {event.key}")


def tag_names(ws: Workspace, conv_id: str) -> set[str]:
    return {t["name"] for t in ws.conversations[conv_id].get("tags", {}).get("tags", [])}


def counted(ws: Workspace, kind: str, variant: str = "") -> list[TrueEvent]:
    return [e for e in ws.truth if e.kind == kind and e.variant == variant]


def table_row(table: str, name: str) -> list[str]:
    (row,) = [line.split() for line in table.splitlines() if line.startswith(f"{name} ")]
    return row


def test_demo_table_matches_the_collector_and_the_truth(tmp_path: Path) -> None:
    """Per goal, the delivered counts equal the workspace's own record of what happened;
    the demo's filtered goal sends the low ratings and keeps back the others, saying why."""
    result = demo.run(conversations=120, folder=tmp_path)
    assert result.exit_code == 0
    ws = result.workspace
    truth = Counter(name for name, _, _ in expected_goals(ws, 0, 2**40).values())
    rated = counted(ws, "conversation_rated")
    truth["intercom_low_rating"] = sum(score(e) <= 2 and attributable(ws, e) for e in rated)
    assert result.delivered == truth
    table = demo.render(result)
    for name, count in truth.items():
        assert table_row(table, name)[2] == str(count)  # name, kind, sent, ...
    (low,) = [g for g in result.goals if g.name == "intercom_low_rating"]
    assert sum(low.filtered.values()) == sum(score(e) > 2 for e in rated) > 0
    assert "filtered" in table and "rating.score <= 2" in table
    assert str(result.database) in table
    assert result.database.exists()


def test_the_demo_workspace_has_what_filters_read(tmp_path: Path) -> None:
    """Tags (some not ASCII), segments, companies with plans and sizes, contacts with custom
    attributes, every ticket category, ratings with remarks, closes, the AI agent."""
    ws = demo.run(conversations=120, folder=tmp_path).workspace
    names = {tag["name"] for tag in ws.tags.values()}
    assert set(DEMO_TAGS) <= names and any(not name.isascii() for name in names)
    assert any(tag_names(ws, c) for c in ws.conversations) and ws.contact_tags
    assert ws.segments and any(ws.contact_segments.values())
    companies = list(ws.companies.values())
    assert all(c["plan"].get("name") and c["size"] and c["industry"] for c in companies)
    assert all("plan" in c["custom_attributes"] for c in ws.contacts.values())
    assert {t["category"] for t in ws.tickets.values()} == {"Customer", "Back-office", "Tracker"}
    ratings = [c["conversation_rating"] for c in ws.conversations.values()]
    assert any(r and r.get("remark") for r in ratings)
    assert counted(ws, "conversation_closed")
    assert any(c.get("ai_agent_participated") for c in ws.conversations.values())


def with_extra_goals(tmp_path: Path) -> Path:
    path = tmp_path / "goals.toml"
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8") + EXTRA_GOALS
    path.write_text(text, encoding="utf-8")
    return path


def test_a_config_runs_its_own_goals_against_the_demo_workspace(tmp_path: Path) -> None:
    """config.example.toml and two goals more: every goal's name and what it sent, each
    equal to the workspace's record; the filtered are kept back with the reason; the file's
    credentials, endpoint and database are ignored and said so."""
    path = with_extra_goals(tmp_path)
    result = demo.run(conversations=120, folder=tmp_path / "demo", config=path)
    assert result.exit_code == 0
    ws = result.workspace
    file_goals = tomllib.loads(path.read_text(encoding="utf-8"))["goal"]
    assert [g.name for g in result.goals] == [g["name"] for g in file_goals]
    truth = Counter(name for name, _, _ in expected_goals(ws, 0, 2**40).values())
    rated, messages = counted(ws, "conversation_rated"), counted(ws, "user_messaged")
    truth["intercom_low_rating"] = sum(score(e) <= 2 and attributable(ws, e) for e in rated)
    billing = [e for e in messages if "Facturación" in tag_names(ws, conversation_of(ws, e))]
    truth["intercom_billing_message_es"] = sum(attributable(ws, e) for e in billing)
    assert all(truth[g.name] > 0 for g in result.goals)
    assert {g.name: g.sent for g in result.goals} == truth
    assert result.delivered == truth
    (spanish,) = [g for g in result.goals if g.name == "intercom_billing_message_es"]
    assert sum(spanish.filtered.values()) == len(messages) - len(billing)
    table = demo.render(result)
    for goal in result.goals:
        assert f"{goal.name} ({goal.kind}): {goal.sent} goals sent" in table
    assert "conversation.tags = 'Facturación'" in table
    assert "intercom.{token_env, region}" in table and "sync.{database" in table
    # Its own database, never the file's.
    kept = tomllib.loads(result.config.read_text(encoding="utf-8")) if result.config else {}
    assert kept["sync"]["database"] == "sqlite:///state.db"
    assert kept["goal"] == file_goals


def test_demo_command_runs_with_no_config_and_cleans_up(tmp_path: Path) -> None:
    """The README's first command: exits 0 with no config file or environment, and leaves
    no folder behind unless --keep says so; the kept config reads the demo's database."""
    kept = tmp_path / "kept"
    kept.mkdir()
    env = {"PATH": os.defpath, "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}

    def syncer(*args: str, tmp: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "syncer", *args],
            env={**env, "TMPDIR": str(tmp)},
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = syncer("demo", "--conversations", "60")
    assert done.returncode == 0, done.stderr
    assert "intercom_conversation_started" in done.stdout
    assert not list(tmp_path.glob("syncer-demo-*"))
    again = syncer("demo", "--conversations", "60", "--keep", tmp=kept)
    assert again.returncode == 0, again.stderr
    [folder] = kept.glob("syncer-demo-*")
    assert f"database: {folder / 'state.db'}" in again.stdout
    status = syncer("--config", str(folder / "syncer.toml"), "status")
    assert status.returncode == 0, status.stderr


def test_demo_command_with_a_config(tmp_path: Path) -> None:
    """`syncer demo --config FILE`: every goal's name with what it sent; a wrong file is one
    line, exit 2, and nothing is left behind."""
    path = with_extra_goals(tmp_path)
    env = {"PATH": os.defpath, "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    run = [sys.executable, "-m", "syncer", "demo", "--conversations", "80", "--config"]
    done = subprocess.run([*run, str(path)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for goal in tomllib.loads(path.read_text(encoding="utf-8"))["goal"]:
        assert f"  {goal['name']} ({goal['kind']}): " in done.stdout
    assert "Ignored from it" in done.stdout
    assert not list(tmp_path.glob("syncer-demo-*"))
    bad = tmp_path / "bad.toml"
    bad.write_text(EXTRA_GOALS.replace("lte = 2", "lte = 'two'"), encoding="utf-8")
    failed = subprocess.run([*run, str(bad)], env=env, capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2
    assert len(failed.stderr.strip().splitlines()) == 1 and "goal" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert not list(tmp_path.glob("syncer-demo-*"))


def test_the_demo_config_writer_round_trips() -> None:
    """What `dumps` writes, tomllib reads back the same: strings with quotes, controls and
    any script, keys that need quoting, inline tables, lists, times."""
    document: dict[str, Any] = {
        "top": "level",
        "intercom": {"base_url": 'http://127.0.0.1:1/"x"\\', "timeout": 2.5},
        "goal": [
            {
                "kind": "user_messaged",
                "name": "naïve 緊急 \t\x01",
                "where": {"conversation": {"tags": ["Facturación", "VIP"]}, "n": {"lte": 2}},
                "properties": {"a key": "contact.email"},
                "enabled": False,
            },
            {"kind": "conversation_started", "name": "b", "x": [1, 2.0, True]},
        ],
        "sync": {
            "start": dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC),
            "day": dt.date(2026, 1, 2),
        },
    }
    assert tomllib.loads(demo.dumps(document)) == document
