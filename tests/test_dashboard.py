"""The Grafana dashboard (deploy/grafana/syncer.json): importable as it is (a datasource
variable, no hard-wired data source), and every metric it queries is one a running daemon
exports."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from tests.conftest import config_text, wait_until
from tests.test_daemon import Daemon

DASHBOARD = Path(__file__).resolve().parent.parent / "deploy" / "grafana" / "syncer.json"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}
# What the issue asks an operator to see, by the metric that shows it.
WANTED = {
    "syncer_goal_freshness_seconds_bucket",  # freshness
    "syncer_outbox_pending",  # backlog
    "syncer_goals_dead_lettered_total",  # dead letters
    "syncer_intercom_rate_budget_remaining",  # rate budget
    "syncer_cursor_lag_seconds",  # cursor lag per scan
    "syncer_events_filtered_total",  # filtered per goal
    "syncer_active",  # active/standby
}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queried(board: dict[str, Any]) -> set[str]:
    """Every metric name in the panels' queries and the variables' queries."""
    exprs = [t["expr"] for p in panels(board) for t in p.get("targets", [])]
    exprs += [v["definition"] for v in board["templating"]["list"] if v["type"] == "query"]
    return set().union(*(re.findall(r"\bsyncer_[a-z_]+\b", e) for e in exprs))


def cycles(page: str) -> float:
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == "syncer_cycle_duration_seconds_count":
                return sample.value
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback only
            return str(answer.read().decode())
    except OSError:
        return None


@pytest.fixture
def exported(
    fake_intercom: FakeIntercom, fake_collector: FakeCollector, tmp_path: Path
) -> Iterator[set[str]]:
    """The series names a daemon against the fakes exports on /metrics after its first
    cycle: every family's samples, by its type (a labelled family with no sample yet still
    declares itself there)."""
    port = free_port()
    path = tmp_path / "syncer.toml"
    path.write_text(
        config_text(
            fake_intercom.url,
            tmp_path / "s.db",
            collector_url=fake_collector.url,
            sync="settle = 0\npoll_interval = 5\n",
            extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n',
        )
    )
    daemon = Daemon(path, None, tmp_path / "daemon.log")
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        pages: list[str] = []

        def cycled() -> bool:
            page = scrape(url)
            if page is None or cycles(page) < 1:
                return False
            pages.append(page)
            return True

        # The first cycle follows the start-up checks and probes: seconds, more under load.
        assert wait_until(cycled, 90), path.with_name("daemon.log").read_text()
        names: set[str] = set()
        for family in text_string_to_metric_families(pages[-1]):
            names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
        yield names
    finally:
        daemon.close()


def test_every_metric_the_dashboard_queries_is_exported(exported: set[str]) -> None:
    read = queried(dashboard())
    assert read >= WANTED, sorted(WANTED - read)
    assert read <= exported, sorted(read - exported)


def test_dashboard_is_importable_with_a_datasource_variable() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 30
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids))
    # No data source is wired in: each panel and query asks the variable, so an import into
    # any Grafana with a Prometheus works without editing.
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
    assert "DS_" not in DASHBOARD.read_text(encoding="utf-8")
