"""A contact's embedded `tags` and `companies` lists are read whole before a filter judges
them: complete only when they show `total_count` items and no `has_more` (register:
R-contact-list-counts; a real contact showed 11 tag ids, `total_count: 14, has_more: false`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace
from tests.conftest import INTERCOM_TOKEN, config_text

SINCE = "2000-01-01"


@pytest.fixture
def intercom() -> Iterator[FakeIntercom]:
    with FakeIntercom(Workspace(), token=INTERCOM_TOKEN) as fake:
        yield fake


def _cut(ws: Workspace, contact: str, what: str, shown: int) -> None:
    """The contact object shows only `shown` of its list, still counting them all, with
    `has_more: false`: the shape of the real payload."""
    listed = ws.contacts[contact][what]
    listed["data"] = listed["data"][:shown]
    listed["has_more"] = False


def _sync(
    intercom: FakeIntercom,
    collector: FakeCollector,
    write_config: Callable[..., Path],
    cli: Callable,
    path: Path,
    rules: str,
) -> Counter[str]:
    config = write_config(config_text(intercom.url, path, collector_url=collector.url, extra=rules))
    result = cli("--config", str(config), "sync", "--since", SINCE)
    assert result.code == 0, result.err
    return Counter(name for name, _, _ in collector.goal_keys())


def _rule(name: str, condition: str) -> str:
    return f'[[goal]]\nkind = "conversation_started"\nname = "{name}"\n{condition}\n'


def test_a_tag_beyond_a_short_list_without_has_more_is_read_from_the_contacts_own_list(
    intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """14 tags, 11 shown, `has_more: false`: a filter on the 14th matches, and `ne` and
    `not_in` on it reject; a contact whose short list is whole costs no list lookup and is
    judged on what it shows."""
    ws = intercom.workspace
    tags = [ws.add_tag(f"tag {i}") for i in range(14)]
    many = ws.add_contact(external_id="many")
    few = ws.add_contact(external_id="few")
    for tag in tags:
        ws.tag_contact(many, tag)
    for tag in tags[:3]:
        ws.tag_contact(few, tag)
    _cut(ws, many, "tags", 11)
    assert ws.contacts[many]["tags"]["total_count"] == 14
    ws.start_conversation(many, now - 5_000)
    ws.start_conversation(few, now - 4_000)
    rules = "\n".join(
        [
            _rule("beyond", 'where.contact.tags = "tag 13"'),
            _rule("shown", 'where.contact.tags = "tag 0"'),
            _rule("not_beyond", 'where.contact.tags = { ne = "tag 13" }'),
            _rule("none_of", 'where.contact.tags = { not_in = ["tag 12", "tag 13"] }'),
        ]
    )
    names = _sync(intercom, fake_collector, write_config, cli, tmp_path / "s.db", rules)
    # many: beyond and shown; few: shown, not_beyond, none_of
    assert names == {"beyond": 1, "shown": 2, "not_beyond": 1, "none_of": 1}
    by_uid = {(name, units[0][1]) for name, _, units in fake_collector.goal_keys()}
    assert ("not_beyond", "many") not in by_uid and ("none_of", "many") not in by_uid
    calls = intercom.calls()
    assert calls["GET /contacts/{id}/tags"] == 1  # only the contact whose list is short


def test_a_company_beyond_a_short_list_without_has_more_is_read_from_the_contacts_own_list(
    intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable[..., Path],
    cli: Callable,
    tmp_path: Path,
    now: int,
    secrets: None,
) -> None:
    """Three companies, the first shown, `has_more: false`: filters on the others' names
    match, and so does `ne` on the shown one (a match on any company counts, as in Series);
    read from the object alone, only the shown company would count."""
    ws = intercom.workspace
    companies = [ws.add_company(n) for n in ("Gamma", "Alpha", "Beta")]
    contact = ws.add_contact(external_id="owner", companies=companies)
    _cut(ws, contact, "companies", 1)
    ws.start_conversation(contact, now - 5_000)
    rules = "\n".join(
        [
            _rule("gamma", 'where.company.name = "Gamma"'),
            _rule("beta", 'where.company.name = "Beta"'),
            _rule("not_gamma", 'where.company.name = { ne = "Gamma" }'),
            _rule("delta", 'where.company.name = "Delta"'),
        ]
    )
    names = _sync(intercom, fake_collector, write_config, cli, tmp_path / "s.db", rules)
    assert names == {"gamma": 1, "beta": 1, "not_gamma": 1}
    assert intercom.calls()["GET /contacts/{id}/companies"] == 1
