"""A goal's `where` that names what the workspace lacks (a segment, a ticket type, a custom
attribute, a tag) is refused at `check`, `sync` and `run` alike: one line naming the goal,
the field and what the workspace has, exit 2, nothing written. Names it has pass.

What the workspace has is built here with the fake's own methods; the expected lines are
written out by hand."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from syncer import filters
from syncer.errors import ConfigError, IntercomUnavailable
from syncer.kinds import SUBJECTS
from syncer.names import listed, unknown_name
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace
from tests.conftest import INTERCOM_TOKEN, config_text

# The `where` language as the config reads it, with the kinds' subjects.
parse_where = functools.partial(filters.parse_where, subjects=SUBJECTS)


@pytest.fixture
def fake_intercom() -> Iterator[FakeIntercom]:
    """An empty workspace: what it has is what each test adds."""
    with FakeIntercom(Workspace(), token=INTERCOM_TOKEN) as fake:
        yield fake


@pytest.fixture
def ws(fake_intercom: FakeIntercom) -> Workspace:
    ws = fake_intercom.workspace
    ws.add_segment("Trial users")
    ws.add_segment("Paid")
    ws.add_tag("Billing")
    ws.add_ticket_type("Bug", ("severity",))
    ws.add_ticket_type("Feature request")
    ws.add_contact(external_id="u1", custom={"tier": "vip"})
    ws.add_company("Big", custom={"seats_bought": 10})
    ws.define_attribute("conversation", "Topic")
    return ws


def _rule(kind: str, where: str) -> str:
    return f'[[goal]]\nkind = "{kind}"\nname = "g"\n{where}\n'


MISTAKES = [
    (
        "conversation_started",
        'where.contact.segments = "Trial"',
        "goal g: where contact.segments: no segment 'Trial' in the workspace "
        "(its segments: Paid, Trial users)",
    ),
    (
        "conversation_started",
        'where.contact.segments = { ne = "Free" }',
        "goal g: where contact.segments: no segment 'Free' in the workspace "
        "(its segments: Paid, Trial users)",
    ),
    (
        "ticket_created",
        'where.ticket.type = ["Bug", "Question"]',
        "goal g: where ticket.type: no ticket type 'Question' in the workspace "
        "(its ticket types: Bug, Feature request)",
    ),
    (
        "ticket_created",
        'where.ticket.attributes.severty = "high"',
        "goal g: where ticket.attributes.severty: no ticket attribute 'severty' in the "
        "workspace (its ticket attributes: _default_description_, _default_title_, severity)",
    ),
    (
        "conversation_started",
        'where.contact.custom_attributes.plan = "gold"',
        "goal g: where contact.custom_attributes.plan: no contact attribute 'plan' in the "
        "workspace (its contact attributes: tier)",
    ),
    (
        "conversation_started",
        "where.company.custom_attributes.seats = { gte = 5 }",
        "goal g: where company.custom_attributes.seats: no company attribute 'seats' in the "
        "workspace (its company attributes: seats_bought)",
    ),
    (
        "conversation_started",
        'where.conversation.custom_attributes.topic = "x"',
        "goal g: where conversation.custom_attributes.topic: no conversation attribute "
        "'topic' in the workspace (names are case-sensitive: it has 'Topic')",
    ),
    (
        "conversation_started",
        'where.conversation.tags = "Bill"',
        "goal g: where conversation.tags: no tag 'Bill' in the workspace (its tags: Billing)",
    ),
]


@pytest.mark.parametrize("command", ["check", "sync", "run"])
@pytest.mark.parametrize(("kind", "where", "line"), MISTAKES)
def test_a_name_the_workspace_lacks_is_one_line_with_what_it_has(
    command: str,
    kind: str,
    where: str,
    line: str,
    ws: Workspace,
    fake_intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    text = config_text(fake_intercom.url, tmp_path / "s.db", extra=_rule(kind, where))
    config = str(write_config(text))
    args = {
        "check": ("check",),
        "sync": ("sync", "--since", "2000-01-01"),
        "run": ("run", "--once"),
    }[command]
    result = cli("--config", config, *args)
    assert result.code == 2, result.err
    assert [x for x in result.err.splitlines() if x.startswith("syncer:")] == [f"syncer: {line}"]
    if command != "check":
        assert fake_intercom.calls()["POST /conversations/search"] == 0
        assert fake_intercom.calls()["POST /tickets/search"] == 0


def test_names_the_workspace_has_pass_in_any_case_where_the_filter_folds_it(
    ws: Workspace,
    fake_intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    """Segments, tags and ticket types compare case aside (as the filters do); an attribute
    defined without any object holding it yet is known; the sync runs."""
    rules = "".join(
        [
            _rule("conversation_started", 'where.contact.segments = "trial USERS"'),
            _rule("conversation_started", 'where.contact.custom_attributes.tier = "vip"'),
            _rule("conversation_started", 'where.conversation.custom_attributes.Topic = "x"'),
            _rule("conversation_started", 'where.conversation.tags = "billing"'),
            _rule("ticket_created", 'where.ticket.type = "bug"'),
            _rule("ticket_created", 'where.ticket.attributes.severity = "high"'),
        ]
    ).replace('name = "g"', 'name = "g{}"')
    rules = rules.format(*range(6))
    config = write_config(config_text(fake_intercom.url, tmp_path / "s.db", extra=rules))
    result = cli("--config", str(config), "sync", "--since", "2000-01-01")
    assert result.code == 0, result.err
    calls = fake_intercom.calls()
    assert calls["GET /segments"] == 1 and calls["GET /ticket_types"] == 1
    assert calls["GET /data_attributes"] == 2  # contact and conversation; no company
    asked = {r.path for r in fake_intercom.requests if r.path.startswith("/data_attributes")}
    assert all("include_archived=true" in path for path in asked), asked


def test_no_list_is_read_when_no_goal_names_anything(
    fake_intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    rule = _rule("conversation_started", 'where.contact.role = "user"')
    config = write_config(config_text(fake_intercom.url, tmp_path / "s.db", extra=rule))
    assert cli("--config", str(config), "sync", "--since", "2000-01-01").code == 0
    routes = set(fake_intercom.calls())
    assert not routes & {"GET /tags", "GET /segments", "GET /ticket_types", "GET /data_attributes"}


def test_check_says_in_one_line_when_a_list_cannot_be_read(
    ws: Workspace,
    fake_intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    fake_intercom.fail(500, times=10, path_prefix="/segments")
    rule = _rule("conversation_started", 'where.contact.segments = "Paid"')
    config = write_config(config_text(fake_intercom.url, tmp_path / "s.db", extra=rule))
    result = cli("--config", str(config), "check")
    assert result.code == 2
    line = [x for x in result.err.splitlines() if x.startswith("syncer:")]
    assert line == [
        "syncer: goals: cannot check the names their filters use: Intercom answered 500 "
        "(server_error) to GET /segments"
    ], result.err


class _Lists:
    """The workspace's lists as given, counting what was read."""

    def __init__(self, **lists: list[dict[str, Any]]) -> None:
        self.lists = lists
        self.read: list[str] = []

    def _get(self, name: str) -> list[dict[str, Any]]:
        self.read.append(name)
        return self.lists.get(name, [])

    def tags(self) -> list[dict[str, Any]]:
        return self._get("tags")

    def segments(self) -> list[dict[str, Any]]:
        return self._get("segments")

    def ticket_types(self) -> list[dict[str, Any]]:
        return self._get("ticket_types")

    def data_attributes(self, model: str) -> list[dict[str, Any]]:
        return self._get(f"data_attributes:{model}")


def _goal(kind: str, raw: dict[str, Any]) -> list[tuple[str, Any]]:
    return [("g", parse_where(raw, "goal[1].where", kind))]


def test_a_custom_attribute_is_known_by_full_name_or_by_custom_and_name() -> None:
    """2.14's example gives `full_name: custom_attributes.NAME`; its schema, `custom: true`
    and `name`: either says the attribute exists. A standard attribute of the same name
    does not (the filter reads `custom_attributes`)."""
    by_full = {"name": "x", "full_name": "custom_attributes.The One Ring", "custom": True}
    by_flag = {"name": "seats", "custom": True}
    standard = {"name": "plan", "full_name": "plan", "custom": False}
    lists = _Lists(**{"data_attributes:company": [by_full, by_flag, standard]})
    for name in ("The One Ring", "seats"):
        goals = _goal("conversation_started", {f"company.custom_attributes.{name}": "a"})
        assert unknown_name(goals, lists) is None
    goals = _goal("conversation_started", {"company.custom_attributes.plan": "a"})
    assert unknown_name(goals, lists) == (
        "goal g: where company.custom_attributes.plan: no company attribute 'plan' in the "
        "workspace (its company attributes: The One Ring, seats)"
    )


def test_ticket_attributes_are_not_judged_when_a_type_does_not_list_them() -> None:
    lists = _Lists(ticket_types=[{"name": "Bug"}])
    goals = _goal("ticket_created", {"ticket.attributes.anything": "a"})
    assert unknown_name(goals, lists) is None


def test_a_long_list_of_names_is_cut_with_how_many_more() -> None:
    names = [f"segment {i:02}" for i in range(45)]
    assert listed(names) == ", ".join(names[:20]) + " and 25 more"
    assert listed([]) == "none"
    lists = _Lists(segments=[{"name": n} for n in names])
    problem = unknown_name(_goal("conversation_started", {"contact.segments": "x"}), lists)
    assert problem is not None and problem.endswith("segment 19 and 25 more)")


def test_a_failure_to_read_a_list_is_raised_not_taken_for_an_empty_list() -> None:
    class Down(_Lists):
        def segments(self) -> list[dict[str, Any]]:
            raise IntercomUnavailable("Intercom answered 503 to GET /segments")

    with pytest.raises(IntercomUnavailable):
        unknown_name(_goal("conversation_started", {"contact.segments": "x"}), Down())


def test_check_workspace_names_raises_a_config_error() -> None:
    from syncer import config as config_mod
    from syncer.names import check_workspace_names

    raw = {
        "absmartly": {"endpoint": "http://127.0.0.1:9/v1", "application": "a", "environment": "e"},
        "units": [{"type": "user_id", "from": "external_id"}],
        "goal": [{"kind": "ticket_created", "name": "g", "where": {"ticket.type": "Bg"}}],
    }
    config = config_mod.parse(raw, env={})
    with pytest.raises(ConfigError, match="no ticket type 'Bg' in the workspace"):
        check_workspace_names(config, _Lists(ticket_types=[{"name": "Bug"}]))


CONFIG_MISTAKES = [
    (
        "conversation_started",
        'where.conversation.source.delivered_as = "Customer_Initiated"',
        "goal[1].where.conversation.source.delivered_as: 'Customer_Initiated' is not a value "
        "of conversation.source.delivered_as (admin_initiated, automated, campaigns_initiated, "
        "customer_initiated, operator_initiated)",
    ),
    (
        "conversation_rated",
        "where.rating.score = 7",
        "goal[1].where.rating.score: rating.score is a whole number from 1 to 5, got 7",
    ),
    (
        "conversation_started",
        "where = {}",
        "goal[1].where: an empty table; give a condition, or leave `where` out for a goal "
        "every event counts for",
    ),
    (
        "conversation_started",
        "where.conversation.admin_assignee_id = 0",
        "goal[1].where.conversation.admin_assignee_id: 0 is how Intercom shows no assignee, "
        "which conversation.admin_assignee_id reads as none; use { exists = false } "
        "(unassigned) or { exists = true } (assigned)",
    ),
]


@pytest.mark.parametrize("command", ["check", "sync", "run"])
@pytest.mark.parametrize(("kind", "where", "line"), CONFIG_MISTAKES)
def test_a_value_that_cannot_match_is_refused_before_intercom_is_asked(
    command: str,
    kind: str,
    where: str,
    line: str,
    fake_intercom: FakeIntercom,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    secrets: None,
) -> None:
    text = config_text(fake_intercom.url, tmp_path / "s.db", extra=_rule(kind, where))
    config = str(write_config(text))
    args = {"check": ("check",), "sync": ("sync", "--since", "2000-01-01"), "run": ("run",)}
    result = cli("--config", config, *args[command])
    assert result.code == 2
    assert result.err.splitlines() == [f"syncer: {line}"]
    assert not fake_intercom.requests and not (tmp_path / "s.db").exists()
