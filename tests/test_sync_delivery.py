"""`syncer sync --since` end to end: each expected goal reaches the Collector exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, config_text
from tests.truth import expected_deliveries

ENV = {**os.environ, "INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN, "ABSMARTLY_API_KEY": COLLECTOR_KEY}
SINCE = "2000-01-01"


def delivered(collector: FakeCollector) -> Counter:
    return Counter(collector.goal_keys())


def expected(ws: Workspace, now: int) -> Counter:
    return expected_deliveries(ws, 0, now)


def configure(
    write_config: Callable,
    tmp_path: Path,
    intercom: FakeIntercom,
    collector: FakeCollector,
    **kwargs: str,
) -> Path:
    return write_config(
        config_text(intercom.url, tmp_path / "s.db", collector_url=collector.url, **kwargs)
    )


def test_sync_delivers_each_goal_exactly_once_twice_in_a_row(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    database_url: str,
    now: int,
    secrets: None,
) -> None:
    """A catch-up delivers the ground truth once; the same window again sends nothing; on
    SQLite and on PostgreSQL, and `status` reads either."""
    config = write_config(
        config_text(fake_intercom.url, database_url, collector_url=fake_collector.url)
    )
    first = cli("--config", str(config), "sync", "--since", SINCE)
    assert first.code == 0, first.err
    truth = expected(fake_intercom.workspace, now)
    assert len(truth) > 300
    assert delivered(fake_collector) == truth
    requests = len(fake_collector.requests)
    again = cli("--config", str(config), "sync", "--since", SINCE)
    assert again.code == 0, again.err
    assert len(fake_collector.requests) == requests
    assert delivered(fake_collector) == truth
    status = json.loads(cli("--config", str(config), "status", "--json").out)
    assert status["outbox"]["sent"] == sum(truth.values())


def test_golden_payload_reproduces_the_guide(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """The guide's webhook body, field for field, with integer times, and its headers."""
    ws = fake_intercom.workspace
    company = ws.add_company("Acme")
    user = ws.add_contact(external_id="u-42", email="ann@acme.test", name="Ann", company=company)
    created = now - 3_600
    ws.start_conversation(user, created)
    only_started = "".join(
        f"[goals.{kind}]\nenabled = false\n"
        for kind in ("conversation_rated", "user_messaged", "ticket_created")
    ) + (
        '[goals.conversation_started.properties]\nuser_email = "contact.email"\n'
        'user_name = "contact.name"\ncompany = "company.name"\n'
    )
    config = configure(write_config, tmp_path, fake_intercom, fake_collector, extra=only_started)
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    started = time.time()
    result = cli("--config", str(config), "sync", "--since", since)
    assert result.code == 0, result.err
    [body] = fake_collector.bodies
    [request] = body["requests"]
    published = request.pop("publishedAt")
    assert isinstance(published, int)
    assert started * 1000 - 1000 <= published <= time.time() * 1000
    assert request == {
        "units": [{"type": "user_id", "uid": "u-42"}],
        "goals": [
            {
                "name": "intercom_conversation_started",
                "achievedAt": created * 1000,
                "properties": {
                    "user_email": "ann@acme.test",
                    "user_name": "Ann",
                    "company": "Acme",
                },
            }
        ],
    }
    headers = fake_collector.headers_seen[0]
    assert headers["x-api-key"] == COLLECTOR_KEY
    assert headers["x-application"] == "www"
    assert headers["x-application-version"] == "0"
    assert headers["x-environment"] == "production"
    assert headers["x-agent"] == "intercom-absmartly-syncer"
    assert headers["content-type"] == "application/json"


def test_collector_outage_mid_run_loses_nothing(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """The first two batches answered 503: the run retries and delivers everything once."""
    fake_collector.fail_next = [(503, {}), (503, {})]
    config = configure(write_config, tmp_path, fake_intercom, fake_collector)
    result = cli("--config", str(config), "sync", "--since", SINCE)
    assert result.code == 0, result.err
    assert delivered(fake_collector) == expected(fake_intercom.workspace, now)


def test_unreachable_collector_exits_1_and_next_run_delivers(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Gives up after --publish-timeout with a count; a later run sends what waited."""
    fake_collector.outage = 503
    config = configure(write_config, tmp_path, fake_intercom, fake_collector)
    result = cli("--config", str(config), "sync", "--since", SINCE, "--publish-timeout", "1")
    truth = expected(fake_intercom.workspace, now)
    assert result.code == 1
    assert f"syncer: {sum(truth.values())} goals still waiting for the Collector" in result.err
    fake_collector.outage = None
    again = cli("--config", str(config), "sync", "--since", SINCE)
    assert again.code == 0, again.err
    assert delivered(fake_collector) == truth


def test_collector_401_stops_and_marks_nothing(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    monkeypatch,
) -> None:
    """A refused key: one line naming the variable, exit 1, every goal still pending."""
    monkeypatch.setenv("INTERCOM_ACCESS_TOKEN", INTERCOM_TOKEN)
    monkeypatch.setenv("ABSMARTLY_API_KEY", "not-the-key-123")
    config = configure(write_config, tmp_path, fake_intercom, fake_collector)
    result = cli("--config", str(config), "sync", "--since", SINCE)
    assert result.code == 1
    assert (
        result.err.strip()
        .splitlines()[-1]
        .startswith("syncer: the Collector refused the API key in $ABSMARTLY_API_KEY (401)")
    )
    assert "not-the-key-123" not in result.err
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert conn.execute("SELECT count(*) FROM outbox WHERE status='sent'").fetchone() == (0,)


def test_kill_between_send_and_commit_duplicates_only_that_batch(
    fake_intercom: FakeIntercom, fake_collector: FakeCollector, tmp_path: Path, now: int
) -> None:
    """SIGKILL while the Collector's answer to batch 3 is in flight; re-run: nothing lost,
    and the only goals sent twice are the ones in that batch."""
    config = tmp_path / "s.toml"
    config.write_text(
        config_text(
            fake_intercom.url,
            tmp_path / "s.db",
            collector_url=fake_collector.url,
            extra="",
            sync="settle = 0\n",
        ).replace('environment = "production"', 'environment = "production"\nbatch_size = 20')
    )
    fake_collector.stall_answer_of = 3
    command = [sys.executable, "-m", "syncer", "--config", str(config), "sync", "--since", SINCE]
    process = subprocess.Popen(command, env=ENV, stderr=subprocess.DEVNULL)
    try:
        assert fake_collector.stalled.wait(60), "the third batch never came"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    in_flight = fake_collector.bodies[2]["requests"]
    batch_goals = Counter(
        (g["name"], g["achievedAt"], tuple((u["type"], u["uid"]) for u in r["units"]))
        for r in in_flight
        for g in r["goals"]
    )
    fake_collector.stall_answer_of = None
    rerun = subprocess.run(command, env=ENV, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    truth = expected(fake_intercom.workspace, now)
    got = delivered(fake_collector)
    assert set(got) == set(truth), "every goal arrived"
    duplicates = got - truth
    assert duplicates == batch_goals
    assert 0 < sum(duplicates.values()) <= sum(len(r["goals"]) for r in in_flight)


def test_outbox_resolve_recovers_after_a_new_unit_mapping(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Events without external_id wait unattributed; mapping the unit to email recovers
    those whose contact has an email, and the next sync sends them."""
    config = configure(write_config, tmp_path, fake_intercom, fake_collector)
    assert cli("--config", str(config), "sync", "--since", SINCE).code == 0
    ws = fake_intercom.workspace
    before = expected(ws, now)
    by_email = '[[units]]\ntype = "user_id"\nfrom = "email"\n'
    remapped = config_text(
        fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url, units=by_email
    )
    config.write_text(remapped, encoding="utf-8")
    result = cli("--config", str(config), "outbox", "resolve")
    assert result.code == 0, result.err
    missing = {
        e.key
        for e in ws.truth
        if not ws.contacts[e.contact_id]["external_id"]
        and ws.contacts[e.contact_id]["email"]
        and not e.variant  # not counted by the default config
    }
    assert result.out.startswith(f"{len(missing)} events recovered")
    assert cli("--config", str(config), "sync", "--since", SINCE).code == 0
    newly = delivered(fake_collector) - before
    emails = {ws.contacts[e.contact_id]["email"] for e in ws.truth if e.key in missing}
    assert sum(newly.values()) == len(missing)
    assert {units[0][1] for _, _, units in newly} == emails


def test_catchup_never_moves_the_live_cursor_back(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """An older window caught up later leaves live cursors where they were, and re-sends nothing."""
    config = configure(write_config, tmp_path, fake_intercom, fake_collector)
    assert cli("--config", str(config), "sync", "--since", SINCE).code == 0
    with sqlite3.connect(tmp_path / "s.db") as conn:
        cursors = dict(conn.execute("SELECT name, last_value FROM cursors"))
    sent = len(fake_collector.goal_keys())
    old = time.strftime("%Y-%m-%d", time.gmtime(now - 5 * 86_400))
    until = time.strftime("%Y-%m-%d", time.gmtime(now - 3 * 86_400))
    result = cli("--config", str(config), "sync", "--since", old, "--until", until)
    assert result.code == 0, result.err
    with sqlite3.connect(tmp_path / "s.db") as conn:
        assert dict(conn.execute("SELECT name, last_value FROM cursors")) == cursors
    assert len(fake_collector.goal_keys()) == sent
