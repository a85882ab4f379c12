"""`syncer sync --dry-run` over a generated workspace prints exactly the expected goals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import config_text
from tests.truth import expected_goals, unattributable


def dry_run(cli: Callable, config: Path, since: int, until: int) -> tuple[dict, str]:
    result = cli(
        "--config",
        str(config),
        "sync",
        "--since",
        str_time(since),
        "--until",
        str_time(until),
        "--dry-run",
    )
    assert result.code == 0, result.err
    lines = [json.loads(line) for line in result.out.splitlines()]
    by_key = {line["key"]: line for line in lines}
    assert len(by_key) == len(lines), "a goal was printed twice"
    return by_key, result.err


def str_time(epoch: int) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


def test_dry_run_prints_exactly_the_ground_truth(
    fake_intercom: FakeIntercom,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Every attributable event in the window, once, with Intercom's time and the right uid."""
    config = write_config(config_text(fake_intercom.url, tmp_path / "state.db"))
    since, until = now - 9 * 86_400, now - 1
    printed, err = dry_run(cli, config, since, until)
    truth = expected_goals(fake_intercom.workspace, since, until)
    assert len(truth) > 300
    got = {k: (g["name"], g["achievedAt"], g["units"][0]["uid"]) for k, g in printed.items()}
    assert got == truth
    assert all(g["units"][0]["type"] == "user_id" for g in printed.values())
    missing = len(unattributable(fake_intercom.workspace, since, until))
    assert f"{missing} unattributed" in err


def test_dry_run_writes_nothing(
    fake_intercom: FakeIntercom,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """No database, lock or journal file appears where the config points."""
    db = tmp_path / "data" / "state.db"
    config = write_config(config_text(fake_intercom.url, db))
    dry_run(cli, config, now - 86_400, now - 1)
    assert not (tmp_path / "data").exists()


def test_dry_run_window_edges_are_inclusive_and_messages_judged_by_own_time(
    fake_intercom: FakeIntercom,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """A narrow window: messages inside count even when the conversation moved on after it."""
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="edge-user")
    t0 = now - 50_000
    conv = ws.start_conversation(user, t0)
    inside = ws.add_part(conv, t0 + 100, author_type="user", author_id=user)
    ws.add_part(conv, t0 + 300, author_type="user", author_id=user)  # after the window
    config = write_config(config_text(fake_intercom.url, tmp_path / "s.db"))
    printed, _ = dry_run(cli, config, t0, t0 + 100)
    mine = {k for k, g in printed.items() if g["units"][0]["uid"] == "edge-user"}
    assert mine == {
        f"conversation:{conv}:started@intercom_conversation_started",
        f"conversation:{conv}:opening@intercom_user_messaged",
        f"part:{inside}@intercom_user_messaged",
    }


def test_dry_run_properties_follow_the_config(
    fake_intercom: FakeIntercom,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Contact and company properties come from the contact; rating carries its score."""
    ws = fake_intercom.workspace
    company = ws.add_company("Acme GmbH")
    user = ws.add_contact(external_id="p-user", email="p@example.com", name="Pé", company=company)
    t0 = now - 40_000
    conv = ws.start_conversation(user, t0)
    ws.rate(conv, t0 + 50, 4, "great")
    props = (
        '[goals.conversation_started.properties]\nuser_email = "contact.email"\n'
        'user_name = "contact.name"\ncompany = "company.name"\n'
    )
    config = write_config(config_text(fake_intercom.url, tmp_path / "s.db", extra=props))
    printed, _ = dry_run(cli, config, t0, t0 + 60)
    started = printed[f"conversation:{conv}:started@intercom_conversation_started"]
    assert started["properties"] == {
        "user_email": "p@example.com",
        "user_name": "Pé",
        "company": "Acme GmbH",
    }
    rated = printed[f"conversation:{conv}:rated:{t0 + 50}:4@intercom_conversation_rated"]
    assert rated["properties"] == {"rating": 4}
