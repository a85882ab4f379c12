"""Watching the daemon: /metrics that agree with what the fakes saw, /healthz, JSON logs with
their figures as fields, and goals delivered within seconds of the event."""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from syncer.metrics import Health
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import config_text, wait_until
from tests.test_daemon import Daemon

POLL = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback only
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as failed:
        return failed.code, failed.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page: (name, labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def watched(
    fake_intercom: FakeIntercom, fake_collector: FakeCollector, tmp_path: Path
) -> Iterator[tuple[Daemon, str]]:
    """A daemon polling every 5 s with metrics on a free loopback port and JSON logs, once
    its first cycle is done: its window starts there, and what happened before it is history
    (for `sync`), not live activity."""
    port = free_port()
    path = tmp_path / "syncer.toml"
    path.write_text(
        config_text(
            fake_intercom.url,
            tmp_path / "s.db",
            collector_url=fake_collector.url,
            sync=f"settle = 0\noverlap = 5\npoll_interval = {POLL}\n",
            extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n',
        )
    )
    daemon = Daemon(path, None, tmp_path / "daemon.log", args=("--log-format", "json"))
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: _up(base), 20), daemon.log.name
        assert wait_until(lambda: _cycles(base) >= 1, 20), daemon.log.name
        yield daemon, base
    finally:
        daemon.close()


def _up(base: str) -> bool:
    try:
        return get(base + "/healthz")[0] in (200, 503)
    except OSError:
        return False


def _cycles(base: str) -> float:
    status, page = get(base + "/metrics")
    found = samples(page) if status == 200 else {}
    return found.get(("syncer_cycle_duration_seconds_count", ()), 0.0)


def test_metrics_agree_with_the_fakes_and_logs_carry_fields(
    watched: tuple[Daemon, str],
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    tmp_path: Path,
) -> None:
    """Live activity reaches the Collector within a poll or two of happening; /metrics
    parses, its delivered count and search calls agree with what the fakes recorded, the
    freshness histogram counts every goal; /healthz is 200; each JSON log line parses and the
    cycle lines carry their figures as fields."""
    daemon, base = watched
    ws = fake_intercom.workspace
    user = ws.add_contact(external_id="watched")
    for _ in range(3):
        ws.start_conversation(user, int(time.time()))
        time.sleep(1.0)
    assert wait_until(lambda: len(fake_collector.goal_keys()) == 6, 3 * POLL)
    lateness = [a.received_at - a.achieved_at / 1000 for a in fake_collector.accepted]
    assert max(lateness) <= 2 * POLL + 3  # loose here; bench/freshness.py measures it
    # The daemon counts a delivery once the Collector's answer is recorded, and a search once
    # it is answered, a moment after the fakes: wait until the figures agree.
    seen: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    assert wait_until(lambda: _agree(base, fake_intercom, seen), 3 * POLL), seen
    found = seen["samples"]
    assert found[("syncer_events_found_total", (("kind", "conversation_started"),))] == 3
    assert found[("syncer_active", ())] == 1
    assert get(base + "/healthz") == (200, "active\n")
    daemon.terminate()
    records = [json.loads(line) for line in Path(daemon.log.name).read_text().splitlines()]
    cycles = [r for r in records if r["msg"].startswith("cycle:")]
    assert cycles and all({"pages", "new", "delivered", "seconds"} <= set(r) for r in cycles)
    assert sum(r["delivered"] for r in cycles) == 6


def _agree(
    base: str,
    fake: FakeIntercom,
    seen: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]],
) -> bool:
    """Whether /metrics agrees with the fakes: six goals delivered and timed, none pending,
    and as many searches counted as Intercom answered, none in flight meanwhile."""
    before = fake.calls()["POST /conversations/search"]
    status, page = get(base + "/metrics")
    after = fake.calls()["POST /conversations/search"]
    if status != 200:
        return False
    found = seen["samples"] = samples(page)
    route = (("route", "POST /conversations/search"), ("status", "200"))
    return (
        found.get(("syncer_goals_delivered_total", ())) == 6
        and found.get(("syncer_goal_freshness_seconds_count", ())) == 6
        and found.get(("syncer_outbox_pending", ())) == 0
        and before == found.get(("syncer_intercom_requests_total", route)) == after
    )


def test_health_turns_503_without_a_completed_cycle_for_three_poll_intervals() -> None:
    """On a fake clock: healthy after a cycle; 503 once three poll intervals pass without
    one, or when the database does not answer; a standby is healthy and says so."""
    now = [1_000.0]
    health = Health(poll_interval=60, clock=lambda: now[0])
    health.last_cycle = now[0]
    now[0] += 179
    assert health.check() == (True, "active")
    now[0] += 2
    assert health.check() == (False, "no completed cycle in three poll intervals")
    health.last_cycle = now[0]
    assert health.check()[0]

    def broken() -> None:
        raise OSError("gone")

    health.database = broken
    assert health.check() == (False, "database: OSError")
    health.standby = True
    assert health.check() == (True, "standby")


def test_health_allows_a_minute_whatever_the_poll_interval() -> None:
    """At a poll of 3 s a long hourly pass must not turn /healthz 503 after 9 s: a minute
    without a completed cycle is still well, a minute and a second is not."""
    now = [1_000.0]
    health = Health(poll_interval=3, clock=lambda: now[0])
    health.last_cycle = now[0]
    now[0] += 60
    assert health.check() == (True, "active")
    now[0] += 1
    assert health.check()[0] is False


@pytest.mark.slow  # waits out three real poll intervals of an Intercom outage
def test_healthz_follows_an_intercom_outage(
    watched: tuple[Daemon, str], fake_intercom: FakeIntercom
) -> None:
    """Intercom down for longer than three poll intervals: /healthz 503; back up: 200."""
    _, base = watched
    assert wait_until(lambda: get(base + "/healthz")[0] == 200, 3 * POLL)
    fake_intercom.fail(503, times=10**6)
    assert wait_until(lambda: get(base + "/healthz")[0] == 503, 3 * POLL + 60)
    fake_intercom.faults.clear()
    assert wait_until(lambda: get(base + "/healthz")[0] == 200, 90)


def test_the_readmes_metric_names_are_the_ones_served_and_filtered_counts_per_goal() -> None:
    """Every `syncer_*` name the README gives is served, under that name (a counter with
    `_total`), and the Monitoring list names every metric served; a goal's filtered events
    are counted under its name."""
    from prometheus_client import generate_latest

    from syncer.metrics import Metrics
    from syncer.store.outbox import Goal

    metrics = Metrics()
    served = set()
    for family in metrics.registry.collect():
        served.add(f"{family.name}_total" if family.type == "counter" else family.name)
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(syncer_[a-z_]+)", readme))
    assert named <= served, named - served
    monitoring = readme.split("## Monitoring", 1)[1].split("- `/healthz`", 1)[0]
    assert served <= set(re.findall(r"`(syncer_[a-z_]+)", monitoring))

    def goal(name: str, key: str) -> Goal:
        return Goal(key, "conversation_started", name, 0, (), {}, {}, "where x", filtered=True)

    metrics.found([goal("a", "1@a"), goal("a", "2@a"), goal("b", "1@b")])
    page = samples(generate_latest(metrics.registry).decode())
    assert page[("syncer_events_filtered_total", (("goal", "a"),))] == 2
    assert page[("syncer_events_filtered_total", (("goal", "b"),))] == 1


def test_livez_fails_only_when_the_cycles_give_no_sign_of_life() -> None:
    """On a fake clock: a cycle that fails and ends, or one that commits pages, keeps /livez
    200 however long (an outage, a long pass); ten poll intervals and ten minutes without a
    start, a page or an end is a hung process: 503, saying so. A standby is alive."""
    now = [1_000.0]
    health = Health(poll_interval=3, clock=lambda: now[0])
    for _ in range(100):  # an hour of cycles failing in an outage: each starts and ends
        now[0] += 36
        health.moved()
        assert health.alive() == (True, "alive")
    assert health.check()[0] is False  # no complete cycle for an hour: unready, not dead
    now[0] += 600
    assert health.alive()[0] is True
    now[0] += 1
    alive, why = health.alive()
    assert alive is False and "no cycle started, progressed or ended" in why
    health.standby = True
    assert health.alive() == (True, "standby")


def test_an_instance_that_stood_by_long_is_alive_once_it_takes_over() -> None:
    """A standby that waited an hour for the lease is judged from the moment it became
    active, not from when it started: /livez does not fail while its start-up probes run."""
    now = [1_000.0]
    health = Health(poll_interval=3, clock=lambda: now[0])
    health.activate(False)
    now[0] += 3_600
    assert health.alive() == (True, "standby")
    health.activate(True)
    now[0] += 30  # the probes, before the first cycle
    assert health.alive() == (True, "alive")
