"""Each goal kind is declared once (kinds.KINDS), and everything that names kinds derives from
that declaration: a kind that exists in one place only fails here."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from syncer import config, detect, kinds
from syncer.config import GoalSettings

ROOT = Path(__file__).resolve().parent.parent
NAMES = [kind.name for kind in kinds.KINDS]


def _detector_kinds() -> set[str]:
    """Every `kind=` an Event is given in detect.py, read from its source."""
    tree = ast.parse(inspect.getsource(detect))
    return {
        keyword.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "kind" and isinstance(keyword.value, ast.Constant)
    }


def test_every_kind_has_a_detector_and_every_detector_a_declared_kind() -> None:
    assert len(set(NAMES)) == len(NAMES)
    assert _detector_kinds() == set(NAMES)
    for name in NAMES:
        assert callable(getattr(detect, name, None)), f"detect.{name} is missing"


@pytest.mark.parametrize("kind", kinds.KINDS, ids=NAMES)
def test_every_kind_builds_scans_whose_events_count_for_it(kind: kinds.GoalKind) -> None:
    goal = GoalSettings(kind.name, kind.default_goal, True, ())
    scans = kind.scans([goal])
    assert scans
    assert {scan.goal for scan in scans} == {kind.name}
    assert len({scan.name for scan in scans}) == len(scans)  # a cursor each


@pytest.mark.parametrize("kind", kinds.KINDS, ids=NAMES)
def test_every_kind_is_a_goal_the_config_takes_with_its_declared_defaults(
    kind: kinds.GoalKind,
) -> None:
    raw = {
        "intercom": {"base_url": "http://127.0.0.1:9"},
        "absmartly": {"endpoint": "http://127.0.0.1:9/v1", "application": "a", "environment": "e"},
        "units": [{"type": "user_id", "from": "external_id"}],
        "sync": {"database": "sqlite:////tmp/x.db"},
        "goal": [{"kind": kind.name, "name": "g"}],
    }
    (goal,) = config.parse(raw, secrets=(), env={}).goals
    assert (goal.kind, goal.enabled) == (kind.name, True)
    assert dict(goal.properties) == dict(kind.properties)
    older = {**raw, "goal": None}
    del older["goal"]
    defaults = config.parse(older, secrets=(), env={}).goals
    assert {g.name: g.enabled for g in defaults}[kind.default_goal] is kind.on


def test_the_help_and_the_readme_list_every_kind() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "syncer", "--help"], capture_output=True, text=True, check=True
    ).stdout
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    events = readme.split("## Events", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(intercom_\w+)`", events, re.MULTILINE))
    assert listed == {kind.default_goal for kind in kinds.KINDS}
    for kind in kinds.KINDS:
        assert kind.name in " ".join(shown.split()), kind.name
        off = "(off by default)" in events.split(f"`{kind.default_goal}`", 1)[1].split("\n")[0]
        assert off is not kind.on, kind.name


def test_a_kinds_name_is_spelled_only_in_its_declaration_and_its_detector() -> None:
    """The issue's measure: outside kinds.py and detect.py (the fakes aside), no module of
    syncer/ names a kind; what needs one derives it from the declaration."""
    named: dict[str, set[str]] = {}
    for path in (ROOT / "syncer").rglob("*.py"):
        if "testing" in path.parts:
            continue
        text = path.read_text(encoding="utf-8")
        for name in NAMES:
            if re.search(rf"\b{name}\b", text):
                named.setdefault(name, set()).add(path.relative_to(ROOT).as_posix())
    for name in NAMES:
        assert named[name] <= {"syncer/kinds.py", "syncer/detect.py"}, (name, named[name])
