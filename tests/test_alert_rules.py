"""The alert rules (deploy/prometheus/alerts.yaml): promtool accepts them and their unit
tests pass, each alert has a case that fires and one that stays quiet, every metric they
read is one the daemon exports, and the PrometheusRule component holds the same rules."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from syncer.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "alerts.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts.test.yaml"
OPERATOR_RULE = ROOT / "deploy" / "kubernetes" / "components" / "prometheusrule"
PROMTOOL = shutil.which("promtool")
# What the issue asks the rules to cover, by the metric each must read.
COVERED = {
    "syncer_last_successful_cycle_timestamp_seconds",  # no successful cycle
    "syncer_outbox_oldest_pending_age_seconds",  # goals waiting too long
    "syncer_goals_dead_lettered_total",  # dead letters
    "syncer_parked_objects",  # parked objects
    "syncer_intercom_rate_budget_remaining",  # rate budget near zero
    "syncer_reconciliation_found_total",  # reconciliation found what live scans missed
    "syncer_assumption_contradicted",  # a contradicted probe
    "syncer_active",  # no active instance among replicas
}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[dict[str, Any]]:
    return [rule for group in load(RULES)["groups"] for rule in group["rules"]]


def exported_names() -> set[str]:
    """Every series name the daemon's registry exposes, read from its own exposition text
    (families with no sample yet still say their type there)."""
    text = generate_latest(Metrics().registry).decode()
    names: set[str] = set()
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
    }
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in suffixes[family.type])
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (ours all start with syncer_)."""
    return set(re.findall(r"\bsyncer_[a-z_]+\b", expr))


def test_every_metric_the_rules_read_is_exported() -> None:
    exported = exported_names()
    read = set().union(*(metric_names(rule["expr"]) for rule in rules()))
    assert read <= exported, sorted(read - exported)
    assert read >= COVERED, sorted(COVERED - read)


def test_each_alert_has_a_firing_and_a_quiet_case() -> None:
    names = {rule["alert"] for rule in rules()}
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in load(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert fired == names, sorted(names ^ fired)
    assert quiet == names, sorted(names ^ quiet)
    assert len(names) == 8


def test_every_alert_says_what_to_do() -> None:
    for rule in rules():
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_prometheusrule_component_holds_the_same_rules() -> None:
    component = load(OPERATOR_RULE / "kustomization.yaml")
    (resource,) = component["resources"]
    operator_rule = load(OPERATOR_RULE / resource)
    assert operator_rule["kind"] == "PrometheusRule"
    assert operator_rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert operator_rule["spec"]["groups"] == load(RULES)["groups"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (.ci/run installs it)")
@pytest.mark.parametrize(
    "command", [["check", "rules", RULES.name], ["test", "rules", RULE_TESTS.name]]
)
def test_promtool(command: list[str]) -> None:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, *command],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (.ci/run installs it)")
def test_promtool_unit_tests_catch_a_broken_rule(tmp_path: Path) -> None:
    """The unit tests are not vacuous: an alert whose threshold is wrong fails them."""
    assert PROMTOOL is not None
    broken = RULES.read_text(encoding="utf-8").replace(
        "syncer_parked_objects) > 0", "syncer_parked_objects) > 5"
    )
    assert broken != RULES.read_text(encoding="utf-8")
    (tmp_path / RULES.name).write_text(broken, encoding="utf-8")
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    done = subprocess.run(
        [PROMTOOL, "test", "rules", RULE_TESTS.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "SyncerParkedObjects" in done.stdout + done.stderr
