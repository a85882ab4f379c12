"""The lookups a goal's `where` needs (tags, segments, a contact's companies) and the fake
workspace's shapes for them, over real HTTP on 127.0.0.1, each as 2.14 writes it
(docs/intercom-assumptions.md: R-tags, R-contact-lists, R-contact-companies,
R-company-fields, R-conversation-fields, R-ticket-fields, R-close-parts, R-ai-agent,
R-search-operators)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from syncer.config import IntercomSettings
from syncer.errors import IntercomAuthError, IntercomObjectError, IntercomUnavailable
from syncer.intercom.client import IntercomClient
from syncer.testing import searchlang
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import Workspace, generate, support_step
from tests.conftest import INTERCOM_TOKEN
from tests.spec import schemas

Client = Callable[..., IntercomClient]


@pytest.fixture
def client_for() -> Iterator[Client]:
    opened: list[IntercomClient] = []

    def make(fake: FakeIntercom, **kwargs: object) -> IntercomClient:
        settings = IntercomSettings("INTERCOM_ACCESS_TOKEN", fake.url, token=INTERCOM_TOKEN)
        opened.append(IntercomClient(settings, **kwargs))  # type: ignore[arg-type]
        return opened[-1]

    yield make
    for client in opened:
        client.close()


@pytest.fixture
def fake() -> Iterator[FakeIntercom]:
    """An empty workspace each test fills with what it looks at."""
    with FakeIntercom(Workspace(), token=INTERCOM_TOKEN) as served:
        yield served


def mocked(handler: Callable[[httpx.Request], httpx.Response]) -> IntercomClient:
    settings = IntercomSettings("INTERCOM_ACCESS_TOKEN", "http://127.0.0.1:9", token="t")
    return IntercomClient(settings, inner=httpx.MockTransport(handler), attempts=1)


def openapi(name: str) -> dict[str, Any]:
    """A 2.14 schema as JSON Schema: OpenAPI's `nullable: true` admits null."""

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(n) for n in node]
        if not isinstance(node, dict):
            return node
        if node.get("$ref"):
            node = {**node, "$ref": "#/definitions/" + node["$ref"].rsplit("/", 1)[-1]}
        converted = {k: convert(v) for k, v in node.items() if k != "nullable"}
        if node.get("nullable"):
            return {"anyOf": [converted, {"type": "null"}]}
        return converted

    every = schemas()
    return {"$ref": f"#/definitions/{name}", "definitions": convert(every)}


def conforms(obj: object, name: str) -> None:
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft7Validator(openapi(name)).iter_errors(obj)
    )
    assert error is None, f"{name}: {error.message} at {list(error.absolute_path)}"


def search_ids(client: IntercomClient, resource: str, query: dict[str, Any]) -> set[str]:
    return {str(item["id"]) for item in client.search(resource, query).items}


# -- GET /tags (R-tags) -----------------------------------------------------------------------


def test_tags_lists_every_tag_of_the_workspace(fake: FakeIntercom, client_for: Client) -> None:
    """listTags: a `list` whose `data` holds `{type: tag, id, name}`, one request."""
    ws = fake.workspace
    vip, churn = ws.add_tag("VIP"), ws.add_tag("Churn risk ✓")
    tags = client_for(fake).tags()
    assert sorted(tags, key=lambda t: t["id"]) == [
        {"type": "tag", "id": vip, "name": "VIP"},
        {"type": "tag", "id": churn, "name": "Churn risk ✓"},
    ]
    for tag in tags:
        conforms(tag, "tag")
    assert fake.calls()["GET /tags"] == 1


def test_an_answer_without_its_list_is_a_failure_not_an_empty_list() -> None:
    """A 200 without `data` would make every tag or segment condition false: it fails."""
    with mocked(lambda request: httpx.Response(200, json={"type": "list"})) as client:
        with pytest.raises(IntercomObjectError, match="without a 'data' list") as caught:
            client.tags()
        assert caught.value.request == "GET /tags"
        with pytest.raises(IntercomObjectError, match="without a 'data' list") as caught:
            client.contact_segments("1")
        assert caught.value.request == "GET /contacts/1/segments"


# -- a contact's segments and tags (R-contact-lists) ------------------------------------------


def test_contact_segments_are_the_segments_it_is_in(fake: FakeIntercom, client_for: Client) -> None:
    """listSegmentsForAContact: `{type: list, data: [segment]}`; the contact object has no
    segments of its own."""
    ws = fake.workspace
    active, trial = ws.add_segment("Active"), ws.add_segment("Leads", person_type="contact")
    user, other = ws.add_contact(external_id="u1"), ws.add_contact(role="lead")
    ws.put_in_segment(user, active)
    ws.put_in_segment(other, trial)
    client = client_for(fake)
    [segment] = client.contact_segments(user) or []
    assert segment == {
        "type": "segment",
        "id": active,
        "name": "Active",
        "created_at": 0,
        "updated_at": 0,
        "person_type": "user",
    }
    conforms(segment, "segment")
    assert [s["id"] for s in client.contact_segments(other) or []] == [trial]
    assert client.contact_segments(ws.add_contact()) == []
    assert "segments" not in (client.contact(user) or {})
    ws.take_out_of_segment(user, active)
    assert client.contact_segments(user) == []
    assert fake.calls()["GET /contacts/{id}/segments"] == 4


def test_segments_of_a_contact_gone_or_merged_are_none_on_2_14(
    fake: FakeIntercom, client_for: Client
) -> None:
    """404 (ShowContact's and listSegmentsForAContact's "User Not Found") reads as None, as
    `contact` does; a merged lead answers 404 like its contact on 2.14."""
    ws = fake.workspace
    lead = ws.add_contact(role="lead")
    ws.put_in_segment(lead, ws.add_segment("Leads"))
    ws.merge_contact(lead, ws.add_contact(external_id="user"))
    client = client_for(fake)
    assert client.contact_segments("no-such-contact") is None
    assert client.contact_segments(lead) is None
    assert client.contact_tags(lead) is None
    assert client.contact_companies(lead) is None
    assert client.contact(lead) is None
    assert fake.statuses() == {404: 5}


def test_a_merged_contacts_lists_follow_the_canonical_link_where_410_is_served(
    fake: FakeIntercom, client_for: Client
) -> None:
    """From 2.16 a merged contact answers 410 with a canonical link; the lists follow it to
    the contact it was merged into, as `contact` does."""
    fake.merged_status = 410
    ws = fake.workspace
    lead, user = ws.add_contact(role="lead"), ws.add_contact(external_id="user")
    active = ws.add_segment("Active")
    ws.put_in_segment(user, active)
    ws.merge_contact(lead, user)
    segments = client_for(fake).contact_segments(lead)
    assert [s["id"] for s in segments or []] == [active]
    assert [r.status for r in fake.requests] == [410, 200]


def test_a_contact_shows_at_most_ten_tags_by_id_and_the_list_gives_them_all_with_names(
    fake: FakeIntercom, client_for: Client
) -> None:
    """`contact_tags`: `data` of `{type, id, url}` (addressable_list: no name), "Up to 10",
    `has_more`; listTagsForAContact lists them all with names, `applied_at`, `applied_by`."""
    ws = fake.workspace
    contact = ws.add_contact(external_id="tagged")
    tags = [ws.add_tag(f"tag {i}") for i in range(12)]
    for i, tag in enumerate(tags):
        ws.tag_contact(contact, tag, at=1_000 + i)
    client = client_for(fake)
    shown = (client.contact(contact) or {})["tags"]
    assert shown["total_count"] == 12 and shown["has_more"] is True
    assert shown["url"] == f"/contacts/{contact}/tags"
    assert shown["data"] == [{"type": "tag", "id": t, "url": f"/tags/{t}"} for t in tags[:10]]
    conforms(shown, "contact_tags")
    listed = client.contact_tags(contact) or []
    assert [(t["id"], t["name"], t["applied_at"]) for t in listed] == [
        (t, f"tag {i}", 1_000 + i) for i, t in enumerate(tags)
    ]
    ws.untag_contact(contact, tags[0])
    assert (client.contact(contact) or {})["tags"]["has_more"] is True  # 11 left
    ws.untag_contact(contact, tags[1])
    shown = (client.contact(contact) or {})["tags"]
    assert shown["has_more"] is False and len(shown["data"]) == 10


# -- a contact's companies (R-contact-companies) ----------------------------------------------


@pytest.mark.parametrize("key", ["data", "companies"])
def test_a_contact_of_many_companies_lists_ten_and_the_list_reads_every_page(
    fake: FakeIntercom, client_for: Client, key: str
) -> None:
    """The contact object lists 10 company references with `has_more`; the list answers
    whole companies in pages of 50 (its example), under `data` (the example) or
    `companies` (its schema): each reading gives all 120, in 3 requests."""
    fake.companies_key = key
    ws = fake.workspace
    companies = [ws.add_company(f"Company {i}", plan="Pro") for i in range(120)]
    contact = ws.add_contact(external_id="u", company=companies[5], companies=companies)
    client = client_for(fake)
    shown = (client.contact(contact) or {})["companies"]
    assert shown["total_count"] == 120 and shown["has_more"] is True
    assert [c["id"] for c in shown["data"]] == [companies[5], *companies[:5], *companies[6:10]]
    listed = client.contact_companies(contact) or []
    assert [c["id"] for c in listed] == [companies[5], *companies[:5], *companies[6:]]
    assert {c["plan"]["name"] for c in listed} == {"Pro"}
    assert fake.calls()["GET /contacts/{id}/companies"] == 3
    assert ws.companies[companies[0]]["user_count"] == 1


def test_the_sdks_pager_finds_no_companies_where_2_14s_example_lists_them(
    fake: FakeIntercom, client_for: Client
) -> None:
    """Why the client reads this list as JSON: python-intercom 5.0.1's pager reads only
    `companies`; under `data` (2.14's example) it yields nothing, without a word."""
    ws = fake.workspace
    contact = ws.add_contact(companies=[ws.add_company("A"), ws.add_company("B")])
    client = client_for(fake)
    assert list(client._sdk.contacts.list_attached_companies(contact_id=contact)) == []
    assert len(client.contact_companies(contact) or []) == 2


def test_a_next_page_link_away_from_the_api_is_refused() -> None:
    """The token goes only to the configured API: a `pages.next` elsewhere fails the
    lookup (a list cut short would be a wrong answer), and nothing is sent there."""
    hosts: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        pages = {"type": "pages", "next": "https://elsewhere.example/contacts/1/companies?page=2"}
        return httpx.Response(200, json={"type": "list", "data": [], "pages": pages})

    with mocked(answer) as client, pytest.raises(IntercomObjectError, match="leaves the API"):
        client.contact_companies("1")
    assert hosts == ["127.0.0.1"]


def test_pages_that_never_end_fail() -> None:
    """A `next` that leads back to a page already read is an error, not a loop."""

    def answer(request: httpx.Request) -> httpx.Response:
        pages = {"next": "http://127.0.0.1:9/contacts/1/companies?page=2"}
        return httpx.Response(200, json={"type": "list", "data": [{"id": "c"}], "pages": pages})

    with mocked(answer) as client, pytest.raises(IntercomObjectError, match="do not end"):
        client.contact_companies("1")


# -- failures, as the other lookups fail --------------------------------------------------------


LOOKUPS = [
    ("tags", "GET /tags", "/tags"),
    ("contact_segments", "GET /contacts/{id}/segments", "/contacts/"),
    ("contact_tags", "GET /contacts/{id}/tags", "/contacts/"),
    ("contact_companies", "GET /contacts/{id}/companies", "/contacts/"),
    ("contact", "GET /contacts/{id}", "/contacts/"),  # the existing lookup, for comparison
]


def _call(client: IntercomClient, method: str, contact: str) -> Any:
    return getattr(client, method)() if method == "tags" else getattr(client, method)(contact)


@pytest.mark.parametrize(("method", "route", "prefix"), LOOKUPS)
def test_a_lookup_that_keeps_failing_is_an_object_error_naming_its_request(
    fake: FakeIntercom, client_for: Client, method: str, route: str, prefix: str
) -> None:
    """After the retries, a 5xx is an IntercomObjectError (the object is parked, the rest
    read on), naming the request and never the token, like `contact` and `company`."""
    contact = fake.workspace.add_contact(external_id="u")
    fake.fail(503, times=10, path_prefix=prefix)
    client = client_for(fake, attempts=2, sleep=lambda _: None)
    with pytest.raises(IntercomObjectError, match="Intercom answered 503") as caught:
        _call(client, method, contact)
    assert caught.value.request == route.replace("{id}", contact)
    assert INTERCOM_TOKEN not in str(caught.value)
    assert fake.calls()[route] == 2


@pytest.mark.parametrize(("method", "route", "prefix"), LOOKUPS)
@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_stops_every_lookup(
    fake: FakeIntercom, client_for: Client, method: str, route: str, prefix: str, status: int
) -> None:
    """401 and 403 are IntercomAuthError (a person must act), not retried, not None."""
    contact = fake.workspace.add_contact()
    fake.fail(status, times=1, path_prefix=prefix)
    with pytest.raises(IntercomAuthError, match=str(status)):
        _call(client_for(fake), method, contact)
    assert fake.calls()[route] == 1


@pytest.mark.parametrize(
    "method", ["tags", "contact_segments", "contact_tags", "contact_companies"]
)
def test_a_2xx_that_is_no_json_object_is_an_object_error(method: str) -> None:
    answer = httpx.Response(200, content=b"[1]")
    with (
        mocked(lambda request: answer) as client,
        pytest.raises(IntercomObjectError, match="not a JSON"),
    ):
        _call(client, method, "1")


def test_tags_answering_404_is_a_failure_not_an_empty_workspace(
    fake: FakeIntercom, client_for: Client
) -> None:
    fake.fail(404, times=1, path_prefix="/tags")
    with pytest.raises(IntercomObjectError, match="404"):
        client_for(fake).tags()


# -- conversations: tags, assignment, priority, attributes (R-tags, R-conversation-fields) -----


def test_a_tagged_conversation_shows_id_and_name_and_is_found_by_tag_ids(
    fake: FakeIntercom, client_for: Client, now: int
) -> None:
    """A conversation's `tags` is a `tag.list` of `{type: tag, id, name, applied_at,
    applied_by}` (retrieveConversation's example), in search items too; `tag_ids` (String)
    searches it; tagging moves `updated_at` (or, in the other reading, does not)."""
    ws = fake.workspace
    contact = ws.add_contact(external_id="u")
    conv, other = (
        ws.start_conversation(contact, now - 100),
        ws.start_conversation(contact, now - 90),
    )
    vip, spam = ws.add_tag("VIP"), ws.add_tag("Spam")
    ws.tag_conversation(conv, vip, now - 50)
    ws.tag_conversation(conv, vip, now - 40)  # twice: no-op
    ws.tag_conversation(other, spam, now - 30, moves_updated_at=False)
    client = client_for(fake)
    got = client.conversation(conv) or {}
    assert got["tags"] == {
        "type": "tag.list",
        "tags": [
            {
                "type": "tag",
                "id": vip,
                "name": "VIP",
                "applied_at": now - 50,
                "applied_by": {"type": "admin", "id": "7"},
            }
        ],
    }
    conforms(got["tags"], "tags")
    assert got["updated_at"] == now - 50
    assert (client.conversation(other) or {})["updated_at"] == now - 90
    tagged = {"field": "tag_ids", "operator": "=", "value": vip}
    [item] = client.search("conversations", tagged).items
    assert item["id"] == conv and item["tags"]["tags"][0]["name"] == "VIP"
    assert "conversation_parts" not in item
    assert search_ids(client, "conversations", {**tagged, "operator": "!="}) == {other}
    assert search_ids(client, "conversations", {**tagged, "operator": "NIN", "value": [vip]}) == {
        other
    }
    ws.untag_conversation(conv, vip, now - 10)
    assert search_ids(client, "conversations", tagged) == set()
    assert (client.conversation(conv) or {})["updated_at"] == now - 10


def test_assignment_shows_integer_ids_on_a_conversation_and_strings_on_a_ticket(
    fake: FakeIntercom, client_for: Client, now: int
) -> None:
    """`conversation.admin_assignee_id` and `team_assignee_id` are integers (null when
    unassigned), searched as Integer; a ticket's are strings (schemas and examples). The
    conversation gains an `assignment` part naming the assignee."""
    ws = fake.workspace
    contact = ws.add_contact(external_id="u")
    conv = ws.start_conversation(contact, now - 100)
    ws.add_part(conv, now - 95, author_type="user", author_id=contact)
    plain = ws.start_conversation(contact, now - 90)
    ws.assign(conv, now - 80, admin_id="42", team_id=5017691)
    ticket = ws.add_ticket(contact, now - 70)
    ws.assign(ticket, now - 60, admin_id=42, team_id="5017691")
    client = client_for(fake)
    got = client.conversation(conv) or {}
    assert (got["admin_assignee_id"], got["team_assignee_id"]) == (42, 5017691)
    part = got["conversation_parts"]["conversation_parts"][-1]
    assert part["part_type"] == "assignment" and part["assigned_to"] == {
        "type": "admin",
        "id": "42",
    }
    assert got["statistics"]["first_assignment_at"] == now - 80
    assert got["statistics"]["count_assignments"] == 1
    assert got["updated_at"] == now - 80
    got_ticket = client.ticket(ticket) or {}
    assert (got_ticket["admin_assignee_id"], got_ticket["team_assignee_id"]) == ("42", "5017691")
    assert got_ticket["updated_at"] == now - 60
    by_admin = {"field": "admin_assignee_id", "operator": "=", "value": 42}
    assert search_ids(client, "conversations", by_admin) == {conv}
    assert search_ids(client, "conversations", {**by_admin, "operator": "!="}) == {plain}
    team = {"field": "team_assignee_id", "operator": "IN", "value": [5017691, 1]}
    assert search_ids(client, "conversations", team) == {conv}
    assert search_ids(client, "tickets", {**by_admin, "value": "42"}) == {ticket}
    with pytest.raises(IntercomUnavailable, match="400"):
        client.search("conversations", {**by_admin, "value": "42"})  # a string: refused


def test_priority_state_and_attributes_are_set_and_searched(
    fake: FakeIntercom, client_for: Client, now: int
) -> None:
    """`priority` (`priority` | `not_priority`), `state` (open, closed, snoozed) and
    `custom_attributes` as the conversation schema has them; both enums searchable."""
    ws = fake.workspace
    contact = ws.add_contact(external_id="u")
    conv, other = (
        ws.start_conversation(contact, now - 100),
        ws.start_conversation(contact, now - 99),
    )
    ws.set_priority(conv, now - 90)
    ws.set_attributes(conv, now - 80, {"issue_type": "Billing", "seats": 9})
    ws.snooze(other, now - 70, until=now + 3_600)
    client = client_for(fake)
    got = client.conversation(conv) or {}
    assert got["priority"] == "priority" and got["custom_attributes"] == {
        "issue_type": "Billing",
        "seats": 9,
    }
    assert got["conversation_parts"]["conversation_parts"][-1]["part_type"] == (
        "conversation_attribute_updated_by_admin"
    )
    conforms(got["custom_attributes"], "custom_attributes")
    snoozed = client.conversation(other) or {}
    assert (snoozed["state"], snoozed["snoozed_until"]) == ("snoozed", now + 3_600)
    query = {"field": "priority", "operator": "=", "value": "priority"}
    assert search_ids(client, "conversations", query) == {conv}
    query = {"field": "state", "operator": "IN", "value": ["snoozed", "closed"]}
    assert search_ids(client, "conversations", query) == {other}
    with pytest.raises(ValueError, match="not 'urgent'"):
        ws.set_priority(conv, now, "urgent")


# -- companies and contacts (R-company-fields) -------------------------------------------------


def test_a_company_shows_plan_attributes_spend_size_and_industry(
    fake: FakeIntercom, client_for: Client
) -> None:
    """`plan` is an object `{type: plan, id, name}`, `{}` without one (every 2.14 example);
    `custom_attributes`, `monthly_spend` and `size` integers, `industry`: the company schema."""
    ws = fake.workspace
    pro = ws.add_company(
        "Acme",
        plan="Pro",
        custom={"paid_subscriber": True, "region": "EU"},
        monthly_spend=155,
        size=100,
        industry="Software",
        created_at=1_663_597_223,
    )
    bare = ws.add_company("Bare", industry="Retail")
    again = ws.add_company("Acme 2", plan="Pro")
    user = ws.add_contact(external_id="u", company=pro, companies=[bare, pro])
    client = client_for(fake)
    company = client.company(pro) or {}
    assert company["plan"] == {"type": "plan", "id": ws.plans["Pro"], "name": "Pro"}
    assert (client.company(again) or {})["plan"]["id"] == ws.plans["Pro"]
    assert company["custom_attributes"] == {"paid_subscriber": True, "region": "EU"}
    assert (company["monthly_spend"], company["size"], company["industry"]) == (
        155,
        100,
        "Software",
    )
    assert (company["created_at"], company["user_count"]) == (1_663_597_223, 1)
    assert company["tags"] == {"type": "tag.list", "tags": []}
    conforms({k: v for k, v in company.items() if k != "custom_attributes"}, "company")
    assert (client.company(bare) or {})["plan"] == {}
    ws.set_plan(bare, "Starter")
    assert (client.company(bare) or {})["plan"]["name"] == "Starter"
    contact = client.contact(user) or {}
    assert [c["id"] for c in contact["companies"]["data"]] == [pro, bare]
    assert contact["companies"]["has_more"] is False
    plain = ws.add_company("Plain")
    assert ws.companies[plain] == {
        "type": "company",
        "id": plain,
        "company_id": f"co-{plain}",
        "name": "Plain",
    }


def test_a_contact_has_its_time_and_sign_up_and_email(
    fake: FakeIntercom, client_for: Client
) -> None:
    ws = fake.workspace
    user = ws.add_contact(
        external_id="u", email="ann@acme.example", created_at=1_000, signed_up_at=2_000
    )
    contact = client_for(fake).contact(user) or {}
    assert (contact["created_at"], contact["signed_up_at"]) == (1_000, 2_000)
    assert contact["email"].split("@")[1] == "acme.example"
    assert "signed_up_at" not in ws.contacts[ws.add_contact()]  # as before, unless asked


# -- closes (R-close-parts) --------------------------------------------------------------------


def test_a_close_is_a_part_by_an_admin_or_a_bot_and_moves_the_close_statistics(
    fake: FakeIntercom, client_for: Client, now: int
) -> None:
    """manageConversation's "Close a conversation": a `close` part by the admin, `state:
    closed`, `open: false`, `updated_at` at the part; `conversation_statistics`:
    `last_close_at` each time, `last_closed_by_id`, `first_close_at` the first close after
    the contact's first reply. Each close is one `conversation_closed` event by its part."""
    ws = fake.workspace
    contact = ws.add_contact(external_id="u")
    conv = ws.start_conversation(contact, now - 1_000)
    first = ws.close(conv, now - 900)
    client = client_for(fake)
    got = client.conversation(conv) or {}
    part = got["conversation_parts"]["conversation_parts"][-1]
    assert (part["id"], part["part_type"], part["created_at"]) == (first, "close", now - 900)
    assert part["author"]["type"] == "admin" and part["author"]["id"] == "7"
    assert (got["state"], got["open"], got["updated_at"]) == ("closed", False, now - 900)
    stats = got["statistics"]
    assert (stats["last_close_at"], stats["first_close_at"]) == (now - 900, now - 900)
    assert stats["last_closed_by_id"] == "7"
    ws.reopen(conv, now - 800)
    assert (client.conversation(conv) or {})["state"] == "open"
    second = ws.close(conv, now - 700, by="bot")
    got = client.conversation(conv) or {}
    part = got["conversation_parts"]["conversation_parts"][-1]
    assert part["author"]["type"] == "bot"
    stats = got["statistics"]
    assert (stats["last_close_at"], stats["first_close_at"]) == (now - 700, now - 900)
    assert (stats["last_closed_by_id"], stats["count_reopens"]) == ("99", 1)
    closed = [(e.key, e.kind, e.at, e.contact_id) for e in ws.truth if e.kind != "user_messaged"]
    assert closed[-2:] == [
        (f"conversation:{conv}:closed:{first}", "conversation_closed", now - 900, contact),
        (f"conversation:{conv}:closed:{second}", "conversation_closed", now - 700, contact),
    ]
    window = {
        "operator": "AND",
        "value": [
            {"field": "statistics.last_close_at", "operator": ">", "value": now - 701},
            {"field": "statistics.last_close_at", "operator": "<", "value": now - 699},
        ],
    }
    assert search_ids(client, "conversations", window) == {conv}
    with pytest.raises(ValueError, match="by an admin or a bot"):
        ws.close(conv, now, by="contact")


def test_a_close_before_the_contact_replied_has_no_first_close(
    fake: FakeIntercom, client_for: Client, now: int
) -> None:
    """`first_close_at` is "Time of first close after first_contact_reply_at": an outbound
    conversation closed before any reply has `last_close_at` only."""
    ws = fake.workspace
    contact = ws.add_contact(external_id="u")
    conv = ws.start_conversation(contact, now - 100, by_admin=True)
    ws.close(conv, now - 50)
    stats = (client_for(fake).conversation(conv) or {})["statistics"]
    assert stats["last_close_at"] == now - 50 and stats.get("first_close_at") is None


def test_a_lagging_search_index_sees_a_close_only_after_the_lag(
    client_for: Client, now: int
) -> None:
    """Every new change goes through the history: the index `search_lag` behind shows the
    conversation open until the lag has passed, then closed and tagged."""
    clock = [1_000.0]
    ws = Workspace()
    with FakeIntercom(ws, token=INTERCOM_TOKEN, search_lag=60, clock=lambda: clock[0]) as fake:
        contact = ws.add_contact(external_id="u")
        conv = ws.start_conversation(contact, now - 100)
        clock[0] += 120
        tag = ws.add_tag("VIP")
        ws.tag_conversation(conv, tag, now - 50)
        ws.close(conv, now - 40)
        ws.ai_resolve(conv, now - 30)
        client = client_for(fake)
        closed = {"field": "state", "operator": "=", "value": "closed"}
        assert search_ids(client, "conversations", closed) == set()
        [item] = client.search(
            "conversations", {"field": "id", "operator": "=", "value": conv}
        ).items
        assert item["state"] == "open" and "tags" not in item
        assert (client.conversation(conv) or {})["state"] == "closed"  # the object is current
        clock[0] += 61
        assert search_ids(client, "conversations", closed) == {conv}
        participated = {"field": "ai_agent_participated", "operator": "=", "value": True}
        assert search_ids(client, "conversations", participated) == {conv}
        assert search_ids(
            client, "conversations", {"field": "tag_ids", "operator": "=", "value": tag}
        ) == {conv}


# -- the AI agent (R-ai-agent) -----------------------------------------------------------------


def test_the_ai_agent_resolves_once_and_a_confirmation_changes_only_the_state(
    fake: FakeIntercom, client_for: Client, now: int
) -> None:
    """Fin's part: author `type: bot` (2.14's examples) with `from_ai_agent: true`;
    `ai_agent_participated: true`; `ai_agent.resolution_state`. One `ai_agent_resolved`
    event, at the AI agent's last part; assumed -> confirmed adds no part and no event."""
    ws = fake.workspace
    contact = ws.add_contact(external_id="u")
    conv = ws.start_conversation(contact, now - 1_000)
    part_id = ws.ai_resolve(conv, now - 990)
    client = client_for(fake)
    got = client.conversation(conv) or {}
    part = got["conversation_parts"]["conversation_parts"][-1]
    assert part["id"] == part_id and part["created_at"] == now - 990
    assert part["author"] == {
        "type": "bot",
        "id": "278",
        "name": "Fin",
        "email": "operator+fake@intercom.io",
        "from_ai_agent": True,
        "is_ai_answer": True,
    }
    conforms(part["author"], "conversation_part_author")
    assert got["ai_agent_participated"] is True
    agent = got["ai_agent"]
    assert (agent["resolution_state"], agent["last_answer_type"]) == (
        "assumed_resolution",
        "ai_answer",
    )
    assert agent["created_at"] is None and agent["rating"] is None  # the rating's, not yet
    conforms(agent, "ai_agent")
    parts = got["statistics"]["count_conversation_parts"]
    assert ws.ai_resolve(conv, now - 500, "confirmed_resolution") is None
    assert ws.ai_resolve(conv, now - 400, "confirmed_resolution") is None  # nothing new
    got = client.conversation(conv) or {}
    assert got["ai_agent"]["resolution_state"] == "confirmed_resolution"
    assert got["statistics"]["count_conversation_parts"] == parts
    assert got["updated_at"] == now - 500
    resolved = [(e.key, e.at) for e in ws.truth if e.kind == "ai_agent_resolved"]
    assert resolved == [(f"conversation:{conv}:ai_agent_resolved", now - 990)]
    state = {"field": "ai_agent.resolution_state", "operator": "=", "value": "confirmed_resolution"}
    assert search_ids(client, "conversations", state) == {conv}
    with pytest.raises(ValueError, match="no resolution"):
        ws.ai_resolve(conv, now, "routed_to_team")


def test_a_routed_conversation_has_the_ai_agent_but_no_resolution(
    fake: FakeIntercom, client_for: Client, now: int
) -> None:
    ws = fake.workspace
    contact = ws.add_contact(external_id="u")
    routed, untouched = (
        ws.start_conversation(contact, now - 100),
        ws.start_conversation(contact, now - 99),
    )
    ws.ai_route(routed, now - 90, team_id=5017691)
    client = client_for(fake)
    got = client.conversation(routed) or {}
    assert got["ai_agent"]["resolution_state"] == "routed_to_team"
    assert got["ai_agent_participated"] is True and got["team_assignee_id"] == 5017691
    author = got["conversation_parts"]["conversation_parts"][-1]["author"]
    assert author["from_ai_agent"] is True and author["is_ai_answer"] is False
    assert not [e for e in ws.truth if e.kind == "ai_agent_resolved"]
    participated = {"field": "ai_agent_participated", "operator": "=", "value": True}
    assert search_ids(client, "conversations", participated) == {routed}
    not_yet = {**participated, "value": False}
    assert search_ids(client, "conversations", not_yet) == {untouched}  # absent reads false
    resolved = {
        "field": "ai_agent.resolution_state",
        "operator": "IN",
        "value": ["assumed_resolution", "confirmed_resolution"],
    }
    assert search_ids(client, "conversations", resolved) == set()
    ws.ai_resolve(routed, now - 50)  # answered again, and resolved: dated by this part
    [event] = [e for e in ws.truth if e.kind == "ai_agent_resolved"]
    assert event.at == now - 50


# -- tickets (R-ticket-fields) -----------------------------------------------------------------


def test_a_ticket_has_type_attributes_and_a_state(
    fake: FakeIntercom, client_for: Client, now: int
) -> None:
    """`ticket_type.name`, `ticket_attributes` (`_default_title_`, ...), `ticket_state`
    with a `category` of submitted, in_progress, waiting_on_customer, resolved; no `tags`
    (the 2.14 ticket has none)."""
    ws = fake.workspace
    contact = ws.add_contact(external_id="u")
    ticket = ws.add_ticket(
        contact, now - 100, "Billing issue", attributes={"order": "A-1"}, state="in_progress"
    )
    plain = ws.add_ticket(contact, now - 90)
    client = client_for(fake)
    got = client.ticket(ticket) or {}
    assert got["ticket_type"]["name"] == "Billing issue"
    assert got["ticket_attributes"] == {"_default_title_": "Broken", "order": "A-1"}
    assert got["ticket_state"]["category"] == "in_progress" and got["open"] is True
    assert "tags" not in got
    conforms(got["ticket_state"], "ticket_state")
    ws.set_ticket_state(ticket, now - 50, "resolved")
    ws.set_attributes(ticket, now - 40, {"order": "A-2"})
    got = client.ticket(ticket) or {}
    assert (got["ticket_state"]["category"], got["open"], got["updated_at"]) == (
        "resolved",
        False,
        now - 40,
    )
    assert got["ticket_attributes"]["order"] == "A-2"
    query = {"field": "state", "operator": "=", "value": "resolved"}
    assert search_ids(client, "tickets", query) == {ticket}
    assert search_ids(client, "tickets", {**query, "value": "submitted"}) == {plain}
    assert (client.ticket(plain) or {})["ticket_state"] == {
        "type": "ticket_state",
        "id": "1",
        "category": "submitted",
    }


# -- the search language (R-search-operators) --------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "query"),
    [
        ("conversations", {"field": "tags.id", "operator": "=", "value": "1"}),
        ("conversations", {"field": "ai_agent.created_at", "operator": ">", "value": 1}),
        ("conversations", {"field": "custom_attributes.plan", "operator": "=", "value": "x"}),
        ("conversations", {"field": "source.type", "operator": ">", "value": 3}),
        ("conversations", {"field": "updated_at", "operator": "=", "value": "yesterday"}),
        ("conversations", {"field": "updated_at", "operator": ">=", "value": 1}),
        ("conversations", {"field": "updated_at", "operator": "~", "value": "1"}),
        ("conversations", {"field": "ai_agent_participated", "operator": "=", "value": "true"}),
        ("conversations", {"field": "ai_agent_participated", "operator": ">", "value": 0}),
        ("conversations", {"field": "tag_ids", "operator": "IN", "value": "1"}),
        ("conversations", {"field": "priority", "operator": "=", "value": True}),
        ("conversations", {"field": "category", "operator": "=", "value": "request"}),
        ("tickets", {"field": "tag_ids", "operator": "=", "value": "1"}),
        ("tickets", {"field": "admin_assignee_id", "operator": "=", "value": 7}),
        ("tickets", {"field": "updated_at", "operator": ">=", "value": 1}),
    ],
)
def test_a_search_intercom_would_refuse_is_a_400(
    fake: FakeIntercom, client_for: Client, resource: str, query: dict[str, Any]
) -> None:
    """A field the Accepted Fields table leaves out, an operator the Accepted Operators
    table does not give its type, a value not of its type: 400, a failed scan."""
    with pytest.raises(IntercomUnavailable, match="Intercom answered 400"):
        client_for(fake).search(resource, query)


@pytest.mark.parametrize(
    ("resource", "query"),
    [
        ("tickets", {"field": "created_at", "operator": ">=", "value": 1}),
        ("tickets", {"field": "ticket_attribute.order", "operator": "=", "value": "A-1"}),
        ("conversations", {"field": "source.type", "operator": "^", "value": "conv"}),
        ("conversations", {"field": "statistics.last_close_at", "operator": "=", "value": None}),
        ("conversations", {"field": "ai_agent.resolution_state", "operator": "~", "value": "res"}),
    ],
)
def test_what_the_tables_accept_is_answered(
    fake: FakeIntercom, client_for: Client, resource: str, query: dict[str, Any]
) -> None:
    assert client_for(fake).search(resource, query).items == []


def test_each_new_field_matches_with_its_types_operators(
    fake: FakeIntercom, client_for: Client, now: int
) -> None:
    """The fields goals filter on, searched with each operator their type takes."""
    ws = fake.workspace
    contact = ws.add_contact(external_id="u")
    closed = ws.start_conversation(contact, now - 500)
    ws.close(closed, now - 400)
    email = ws.start_conversation(contact, now - 300)
    ws.conversations[email]["source"]["type"] = "email"
    resolved = ws.start_conversation(contact, now - 200)
    ws.ai_resolve(resolved, now - 100)
    client = client_for(fake)

    def found(name: str, operator: str, value: Any) -> set[str]:
        query = {"field": name, "operator": operator, "value": value}
        return search_ids(client, "conversations", query)

    everything = {closed, email, resolved}
    assert found("statistics.last_close_at", ">", now - 400) == {closed}
    assert found("statistics.last_close_at", "<", now - 401) == set()
    assert found("statistics.last_close_at", "!=", now - 400) == everything - {closed}
    assert found("updated_at", ">", now - 300) == {email, resolved}
    assert found("updated_at", "IN", [now - 400, now - 100]) == {closed, resolved}
    assert found("ai_agent_participated", "=", True) == {resolved}
    assert found("ai_agent_participated", "!=", True) == {closed, email}
    assert found("ai_agent_participated", "NIN", [True]) == {closed, email}
    assert found("ai_agent.resolution_state", "=", "assumed_resolution") == {resolved}
    assert found("ai_agent.resolution_state", "$", "_resolution") == {resolved}
    assert found("ai_agent.resolution_state", "=", None) == {closed, email}
    assert found("source.type", "=", "email") == {email}
    assert found("source.type", "NIN", ["email"]) == {closed, resolved}
    assert found("source.type", "!~", "mail") == {closed, resolved}
    assert found("state", "=", "closed") == {closed}
    assert found("state", "!=", "closed") == {email, resolved}
    assert found("priority", "=", "not_priority") == everything
    assert found("admin_assignee_id", "=", None) == everything


def test_the_fakes_tables_are_the_accepted_fields_tables() -> None:
    """Typos as 2.14 has them (`conversation_rating.admin_d`), types as its tables say."""
    types = searchlang.CONVERSATION_FIELDS
    assert types["admin_assignee_id"] == searchlang.INTEGER
    assert searchlang.TICKET_FIELDS["admin_assignee_id"] == searchlang.STRING
    assert types["ai_agent_participated"] == searchlang.BOOLEAN
    assert types["statistics.last_close_at"] == searchlang.DATE
    assert "conversation_rating.admin_d" in types and "tag_ids" not in searchlang.TICKET_FIELDS


# -- the generator stays as it was; its new keywords -------------------------------------------

START = 1_700_000_000


def _dump(ws: Workspace) -> str:
    truth = [[e.key, e.kind, str(e.at), e.contact_id, e.variant] for e in ws.truth]
    objects = [ws.contacts, ws.companies, ws.conversations, ws.tickets, truth, ws.score_given]
    return json.dumps(objects, sort_keys=True)


def test_generate_makes_the_workspace_it_made_before_these_methods() -> None:
    """The digest of `generate(seed=7, ...)` as it was before the opt-in methods existed."""
    ws = generate(seed=7, conversations=240, start=START, end=START + 8 * 86_400)
    assert hashlib.sha256(_dump(ws).encode()).hexdigest() == (
        "af85141aa2d9c0ca92f471293dd52c5825d92500ca800ff40aeae1145202ebe2"
    )


def test_generate_with_closes_adds_a_close_event_for_each_close_and_changes_nothing_else() -> None:
    plain = generate(seed=7, conversations=240, start=START, end=START + 8 * 86_400)
    closing = generate(seed=7, conversations=240, start=START, end=START + 8 * 86_400, closes=True)
    kept = [e for e in closing.truth if e.kind != "conversation_closed"]
    assert kept == plain.truth
    closes = {
        f"conversation:{c['id']}:closed:{p['id']}"
        for c in closing.conversations.values()
        for p in c["conversation_parts"]["conversation_parts"]
        if p["part_type"] == "close"
    }
    assert {e.key for e in closing.truth if e.kind == "conversation_closed"} == closes
    assert len(closes) > 20
    for conv in closing.conversations.values():
        times = [
            p["created_at"]
            for p in conv["conversation_parts"]["conversation_parts"]
            if p["part_type"] == "close"
        ]
        assert conv["statistics"].get("last_close_at") == (max(times) if times else None)


def test_generate_with_the_ai_agent_adds_resolutions_and_keeps_the_other_events() -> None:
    plain = generate(seed=7, conversations=240, start=START, end=START + 8 * 86_400)
    ai = generate(seed=7, conversations=240, start=START, end=START + 8 * 86_400, ai_agent=0.3)
    resolved = [e for e in ai.truth if e.kind == "ai_agent_resolved"]
    assert len(resolved) > 20
    assert [(e.kind, e.at) for e in ai.truth if e.kind != "ai_agent_resolved"] == [
        (e.kind, e.at) for e in plain.truth
    ]
    states = {(c.get("ai_agent") or {}).get("resolution_state") for c in ai.conversations.values()}
    assert states == {None, "assumed_resolution", "confirmed_resolution", "routed_to_team"}
    for event in resolved:
        conv = ai.conversations[event.key.split(":")[1]]
        fin = [
            p["created_at"]
            for p in conv["conversation_parts"]["conversation_parts"]
            if p["author"].get("from_ai_agent")
        ]
        assert event.at == max(fin) == conv["created_at"]


def test_support_step_with_closes_draws_the_same() -> None:
    runs = []
    for closes in (False, True):
        ws = generate(seed=9, conversations=20, start=START, end=START + 100_000)
        rng, conv, at = random.Random(4), next(iter(ws.conversations)), START + 100_000
        for _ in range(50):
            at = support_step(ws, rng, conv, at + 100, at + 10_000, closes=closes)
        runs.append((at, ws))
    (at_plain, plain), (at_closing, closing) = runs
    assert at_plain == at_closing
    assert [e for e in closing.truth if e.kind != "conversation_closed"] == plain.truth
    assert any(e.kind == "conversation_closed" for e in closing.truth)


def test_all_fields_gives_every_object_what_2_14_always_shows(client_for: Client, now: int) -> None:
    """With `all_fields`, conversations, tickets, companies and contacts validate against
    the 2.14 schemas and carry `tags`, assignees, `ai_agent_participated: false`, ..."""
    ws = generate(seed=5, conversations=40, start=now - 86_400, end=now, all_fields=True)
    with FakeIntercom(ws, token=INTERCOM_TOKEN) as fake:
        client = client_for(fake)
        conv_id = next(iter(ws.conversations))
        conv = client.conversation(conv_id) or {}
        for name in ("tags", "admin_assignee_id", "team_assignee_id", "custom_attributes"):
            assert name in conv
        assert conv["ai_agent_participated"] is False and conv["ai_agent"] is None
        # Times not yet reached are null, which the schema's integers do not say
        stats = conv.pop("statistics")
        conforms(conv, "conversation")
        conforms({k: v for k, v in stats.items() if v is not None}, "conversation_statistics")
        assert stats["last_close_at"] is None or isinstance(stats["last_close_at"], int)
        ticket = client.ticket(next(iter(ws.tickets))) or {}
        assert ticket["admin_assignee_id"] == "0" and "internal_label" in ticket["ticket_state"]
        conforms(ticket, "ticket")
        company = client.company(next(iter(ws.companies))) or {}
        assert company["plan"] == {} and company["segments"]["segments"] == []
        contact = client.contact(next(iter(ws.contacts))) or {}
        assert contact["tags"]["data"] == [] and "url" in contact["companies"]
        conforms(contact, "contact")
    closed = [c for c in ws.conversations.values() if c["state"] == "closed"]
    assert closed and all(c["statistics"]["last_close_at"] for c in closed)
