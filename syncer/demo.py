"""`syncer demo`: the whole product on this machine, with no config and no accounts.

It starts the fake Intercom (a generated workspace) and the fake Collector on 127.0.0.1 and
runs a real catch-up through the production code path: config parsing, scans, detection,
filters, the outbox, the publisher.

With `--config FILE`, the file's own units and goals (their options and `where` filters) run
against the demo workspace instead of the demo's, so a goal can be tried before the syncer
is pointed at a real workspace. What would reach a real Intercom, Collector or database
(credentials, endpoints, the state database, metrics and webhooks) is ignored, and the demo
says which of those the file set. The workspace is furnished with what filters read (tags,
segments, company plans, custom attributes, every ticket category, ratings with remarks,
closes, AI agent answers), plus the tags, segments, plans, ticket types and attributes the
file's filters name, so each filter has something to admit and something to reject.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from syncer import catchup, kinds, report, words
from syncer import config as config_mod
from syncer.config.load import read_toml
from syncer.errors import ConfigError
from syncer.testing.fake_collector import Accepted, FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace, furnish, generate
from syncer.timeparse import DAY

TOKEN, KEY = "demo-intercom-token", "demo-collector-key"
ENV = {"INTERCOM_ACCESS_TOKEN": TOKEN, "ABSMARTLY_API_KEY": KEY}
AI_SHARE = 0.3  # of contact-opened conversations the AI agent answers


def _demo_goals() -> str:
    """The demo's own goals: the default ones (ABsmartly's guide's four, kinds.py), with the
    contact's and company's names as properties, and one filtered goal to show filters."""
    props = 'user_email = "contact.email"\nuser_name = "contact.name"\ncompany = "company.name"\n'
    goals = [
        f'[[goal]]\nkind = "{kind.name}"\nname = "{kind.default_goal}"\n'
        + ("" if kind.properties else f"[goal.properties]\n{props}")
        for kind in kinds.KINDS
        if kind.on
    ]
    rated = next(kind for kind in kinds.KINDS if kinds.RATING in kind.subjects)
    goals.append(
        f'[[goal]]\nkind = "{rated.name}"\nname = "intercom_low_rating"\n'
        "where.rating.score = { lte = 2 }\n"
    )
    return "\n".join(goals)


DEMO_GOALS = _demo_goals()

# What a user's config may set that the demo replaces: the fakes' addresses and secrets, a
# state database of its own. Kept from [absmartly]: how goals are shaped and sent.
KEPT_ABSMARTLY = (
    "application",
    "environment",
    "application_version",
    "agent",
    "hash_units",
    "batch_size",
    "max_body_bytes",
)
REPLACED = ("intercom", "absmartly", "sync", "metrics", "webhooks")


@dataclass
class GoalReport:
    name: str
    kind: str
    sent: int = 0
    example: Accepted | None = None  # one goal the Collector took
    filtered: Counter[str] = field(default_factory=Counter)  # condition -> goal events
    found: dict[str, Counter[str]] = field(default_factory=dict)  # condition -> values seen
    unattributed: int = 0
    dead: Counter[str] = field(default_factory=Counter)  # the Collector's reason -> goals


@dataclass
class DemoResult:
    exit_code: int
    delivered: Counter[str]  # goal name -> goals the fake Collector accepted
    database: Path
    workspace: Workspace
    kept: bool = True  # whether `database` and `config` are still there to look at
    config: Path | None = None  # the demo's config file, beside its database
    goals: list[GoalReport] = field(default_factory=list)  # in config order
    source: Path | None = None  # the user's config, with --config
    ignored: list[str] = field(default_factory=list)  # what of it the demo did not use


def run(
    conversations: int = 300,
    folder: Path | None = None,
    seed: int = 1,
    *,
    keep: bool = True,
    config: Path | None = None,
) -> DemoResult:
    """The demo in `folder` (a new temporary one by default, removed unless `keep`); with
    `config`, that file's units and goals. A config that cannot be used raises ConfigError
    before anything is made."""
    own = _user_config(config) if config is not None else None
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="syncer-demo-"))
        try:
            return _run(conversations, folder, seed, keep, config, own)
        finally:
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)
    return _run(conversations, folder, seed, keep, config, own)


def _run(
    conversations: int,
    folder: Path,
    seed: int,
    keep: bool,
    source: Path | None,
    own: tuple[dict[str, Any], list[str]] | None,
) -> DemoResult:
    now = int(time.time())
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "state.db"
    config_path = folder / "syncer.toml"
    raw, ignored = own if own is not None else (tomllib.loads(DEMO_GOALS), [])
    workspace = generate(
        seed=seed,
        conversations=conversations,
        start=now - 14 * DAY,
        end=now - 120,
        closes=True,
        ai_agent=AI_SHARE,
    )
    # The Collector the file's goals would reach knows its application and environment.
    named = {k: raw.get("absmartly", {}).get(k) for k in ("application", "environment")}
    collector_for = FakeCollector(api_key=KEY, **{k: v for k, v in named.items() if v})
    with FakeIntercom(workspace, token=TOKEN) as intercom, collector_for as collector:
        demo_raw = _demo_raw(raw, intercom.url, collector.url)
        # Validated before the workspace is furnished for its filters (exit 2, one line).
        parsed = config_mod.parse(demo_raw, secrets=("intercom", "absmartly"), env=ENV)
        furnish(workspace, seed, **_named_by(parsed))
        # A real config file, read as any other: what --keep keeps, to look at or to point
        # `syncer --config ... status` at afterwards.
        config_path.write_text(_header(source) + dumps(demo_raw), encoding="utf-8")
        config_path.chmod(0o600)
        loaded = config_mod.load(config_path, secrets=("intercom", "absmartly"), env=ENV)
        code = catchup.sync(loaded, now - 15 * DAY, now, now, publish_timeout=30)
        accepted = list(collector.accepted)
    delivered = Counter(goal.name for goal in accepted)
    goals = _per_goal(loaded, accepted)
    return DemoResult(
        code, delivered, database, workspace, keep, config_path, goals, source, ignored
    )


# -- the user's config ----------------------------------------------------------------------


def _user_config(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The file's TOML and what of it the demo ignores; errors as `load` words them."""
    raw = read_toml(path)
    ignored = []
    for section in REPLACED:
        table = raw.get(section)
        if not isinstance(table, dict):
            continue
        keys = [k for k in table if section != "absmartly" or k not in KEPT_ABSMARTLY]
        if keys:
            names = keys[0] if len(keys) == 1 else "{" + ", ".join(keys) + "}"
            ignored.append(f"{section}.{names}")
    # Every mistake in the units and goals now, before anything is made (exit 2, one line).
    placeholder = "http://127.0.0.1:9"
    config_mod.parse(_demo_raw(raw, placeholder, placeholder), secrets=(), env=ENV)
    return raw, ignored


def _demo_raw(raw: dict[str, Any], intercom_url: str, collector_url: str) -> dict[str, Any]:
    """The config the demo runs: the file's units and goals, the fakes' addresses, a state
    database beside the config, no settle time (the fake's index never lags)."""
    absmartly = {k: v for k, v in (raw.get("absmartly") or {}).items() if k in KEPT_ABSMARTLY}
    absmartly.setdefault("application", "www")
    absmartly.setdefault("environment", "production")
    out: dict[str, Any] = {
        "intercom": {"base_url": intercom_url},
        "absmartly": {"endpoint": collector_url, **absmartly},
    }
    out["units"] = raw.get("units", [{"type": "user_id", "from": "external_id"}])
    for key, value in raw.items():
        if key not in (*REPLACED, "units"):
            out[key] = value  # the goals, in whichever form; anything else `parse` refuses
    out["sync"] = {"database": "sqlite:///state.db", "settle": 0}
    return out


def _named_by(config: config_mod.Config) -> dict[str, Any]:
    """The names and values the goals' filters test, for the workspace to hold some."""
    found: dict[str, list[Any]] = {}
    attributes: dict[str, dict[str, tuple[Any, ...]]] = {}
    for goal in config.enabled_goals():
        for condition in goal.where:
            values = _values(condition.value) if condition.op != "exists" else []
            if condition.field in ("conversation.tags", "contact.tags"):
                found.setdefault("tags", []).extend(values)
            elif condition.field == "contact.segments":
                found.setdefault("segments", []).extend(values)
            elif condition.field == "company.plan":
                found.setdefault("plans", []).extend(values)
            elif condition.field == "ticket.type":
                found.setdefault("ticket_types", []).extend(values)
            for model in ("contact", "company", "conversation"):
                prefix = f"{model}.custom_attributes."
                if condition.field.startswith(prefix):
                    name = condition.field.removeprefix(prefix)
                    known = attributes.setdefault(model, {}).get(name, ())
                    # Values the condition names, and one it does not: both sides shown.
                    drawn = (*known, *values, *(() if known else ("other",)))
                    attributes[model][name] = tuple(dict.fromkeys(drawn))
    named: dict[str, Any] = {
        what: tuple(dict.fromkeys(str(v) for v in values if isinstance(v, str)))
        for what, values in found.items()
    }
    named["attributes"] = attributes
    return named


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, tuple | list) else [value]


def _header(source: Path | None) -> str:
    what = f"the goals of {source}" if source is not None else "the demo's goals"
    return (
        f"# The config `syncer demo` ran with: {what}, against a fake workspace.\n"
        "# Its fake Intercom and Collector are gone, but `syncer --config THIS_FILE status`\n"
        "# and `syncer --config THIS_FILE outbox list --status filtered` still read the\n"
        "# demo's database beside it.\n\n"
    )


# -- what each goal did ---------------------------------------------------------------------


def _per_goal(config: config_mod.Config, accepted: list[Accepted]) -> list[GoalReport]:
    goals = {g.name: GoalReport(g.name, g.kind) for g in config.enabled_goals()}
    for goal in accepted:
        if goal.name in goals:
            goals[goal.name].sent += 1
            goals[goal.name].example = goals[goal.name].example or goal
    rows = report.outbox_rows(config, ["filtered", "unattributed", "dead"], 10_000_000)
    for row in rows:
        goal_report = goals.get(row["name"])
        if goal_report is None:
            continue
        if row["status"] == "unattributed":
            goal_report.unattributed += 1
            continue
        if row["status"] == "dead":
            goal_report.dead[str(row["last_error"] or row["reason"] or "-")] += 1
            continue
        # "CONDITION (found VALUE)", as filters.rejection words it
        condition, _, found = str(row["reason"] or "-").partition(" (found ")
        goal_report.filtered[condition] += 1
        if found:
            goal_report.found.setdefault(condition, Counter())[found.removesuffix(")")] += 1
    return list(goals.values())


def render(result: DemoResult) -> str:
    lines: list[str] = []
    if result.source is not None:
        lines.append(f"The goals of {result.source}, against the demo's fake workspace.")
        if result.ignored:
            lines.append(
                f"Ignored from it (the demo uses its fakes and a database of its own): "
                f"{', '.join(result.ignored)}."
            )
        lines.append("")
    goals = result.goals or [
        GoalReport(name, "", sent=count) for name, count in sorted(result.delivered.items())
    ]
    width = max([len(g.name) for g in goals] + [10])
    kind_width = max([len(g.kind) for g in goals] + [4])
    lines.append(f"{'goal':<{width}}  {'kind':<{kind_width}}  sent  filtered  unattributed")
    lines.append(f"{'-' * width}  {'-' * kind_width}  ----  --------  ------------")
    for g in goals:
        filtered = sum(g.filtered.values())
        lines.append(
            f"{g.name:<{width}}  {g.kind:<{kind_width}}  {g.sent:>4}  {filtered:>8}  "
            f"{g.unattributed:>12}"
        )
    total_filtered = sum(sum(g.filtered.values()) for g in goals)
    lines.append(
        f"{'total':<{width}}  {'':<{kind_width}}  {sum(g.sent for g in goals):>4}  "
        f"{total_filtered:>8}  {sum(g.unattributed for g in goals):>12}"
    )
    lines += ["", "What each goal sent, and what its filter kept back and why:"]
    for g in goals:
        lines += _goal_lines(g)
    lines.append("")
    if result.kept:
        lines.append(f"database: {result.database}")
        if result.config is not None:
            lines.append(f"config:   {result.config} (syncer --config {result.config} status)")
    else:
        lines.append("the demo's folder (config, database) was removed (--keep keeps it)")
    lines.append(
        "Events whose contact lacks the unit's field were kept as unattributed, as in production."
    )
    if result.source is None:
        lines.append(
            "Next: cp config.example.toml syncer.toml, edit it, try its goals with "
            "syncer demo --config syncer.toml, then syncer --config syncer.toml check"
        )
    else:
        lines.append(f"Next: syncer --config {result.source} check, against your workspace")
    return "\n".join(lines)


def _goal_lines(g: GoalReport) -> list[str]:
    head = f"  {g.name} ({g.kind}): {words.count(g.sent, 'goal')} sent"
    if g.example is not None:
        units = ", ".join(f"{t}={u}" for t, u in g.example.units)
        properties = json.dumps(g.example.properties or {}, ensure_ascii=False, sort_keys=True)
        head += f", e.g. {units} {properties}"
    lines = [head]
    shown = g.filtered.most_common(3)
    for condition, count in shown:
        values = g.found.get(condition, Counter())
        seen = ", ".join(f"{value} x{n}" for value, n in values.most_common(3))
        etc = " ..." if len(values) > 3 else ""
        lines.append(
            f"    filtered {count}: {condition}" + (f" (found {seen}{etc})" if seen else "")
        )
    if len(g.filtered) > len(shown):
        rest = sum(g.filtered.values()) - sum(count for _, count in shown)
        more = len(g.filtered) - len(shown)
        lines.append(f"    and {rest} more filtered, for {words.count(more, 'more reason')}")
    for why, count in g.dead.most_common(1):
        lines.append(f"    dead-lettered {count} (the Collector refused: {why})")
    if not g.filtered and not g.dead and g.sent == 0:
        lines.append("    nothing in the demo workspace matched this goal")
    return lines


# -- TOML out -------------------------------------------------------------------------------


def dumps(document: dict[str, Any]) -> str:
    """A TOML document of tables (and arrays of tables) of plain values, as `tomllib` reads
    them: what the demo writes its config with (the standard library reads TOML only)."""
    out: list[str] = []
    for key, value in document.items():
        if isinstance(value, dict):
            out.append(f"[{_key(key)}]")
            out += [f"{_key(k)} = {_value(v)}" for k, v in value.items()]
            out.append("")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for table in value:
                out.append(f"[[{_key(key)}]]")
                out += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
                out.append("")
        else:
            out.insert(0, f"{_key(key)} = {_value(value)}")
    return "\n".join(out)


def _key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, datetime | date | clock_time):
        return value.isoformat()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Iterable):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {type(value).__name__} values into the demo's config")
