"""The Intercom client: one paced, retrying httpx client, under the official SDK too.

Everything leaves here as plain JSON-shaped dicts, so detection works on Intercom's documented
shapes and never on SDK classes. The bulk reads (search pages and whole conversations) parse
the JSON body directly: the SDK builds a model of every object first, which costs 1.3 ms of
CPU per conversation and 150 ms per search page of 150, against 0.01 ms and 0.7 ms for the
JSON itself; on two cores that, not Intercom's rate budget, set the pace of a catch-up. The
few other calls (me, contacts, companies) go through the SDK. The lists (the workspace's
tags, a contact's segments, tags and companies) are read as JSON too: the SDK's pager for a
contact's companies reads only `companies`, a key 2.14's own example does not have (it
lists them under `data`), and finds none there without a word (register:
R-contact-companies). Errors are translated here and nowhere else;
their text (which holds headers and bodies) is never shown.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, quote, urlsplit

import httpx
from intercom import Intercom
from intercom.core.api_error import ApiError
from pydantic import BaseModel

from syncer.errors import (
    IntercomAuthError,
    IntercomObjectError,
    IntercomUnavailable,
    Merged,
    NotFound,
)
from syncer.intercom.transport import PacedRetryTransport, Pacer, ShardedTransport
from syncer.retries import INTERCOM

if TYPE_CHECKING:
    from syncer.config import IntercomSettings

API_VERSION: Final = "2.14"
PER_PAGE: Final = 150
MAX_MERGE_HOPS: Final = 3
MAX_LIST_PAGES: Final = 100  # pages of a contact's companies (50 a page) followed at most
_PLAINTEXT: Final = {"display_as": "plaintext"}
_CANONICAL = re.compile(r"<[^>]*/contacts/([^>/]+)>\s*;\s*rel=\"?canonical\"?")
# JSON may escape a lone UTF-16 surrogate (legal JSON, Intercom can return one in a name);
# no UTF-8 store or body can hold it. Only a body with such an escape is walked.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class SearchPage:
    items: list[dict[str, Any]]
    next: str | None  # the `starting_after` of the next page; None on the last page
    total: int | None


class IntercomClient:
    """What the syncer asks of Intercom; thread-safe, one pacer for the whole process."""

    def __init__(
        self,
        settings: IntercomSettings,
        *,
        pacer: Pacer | None = None,
        inner: httpx.BaseTransport | None = None,
        attempts: int = INTERCOM.attempts,
        sleep: Callable[[float], None] = time.sleep,
        stop: threading.Event | None = None,
        on_answer: Callable[[str, int, int | None], None] | None = None,
    ) -> None:
        """`stop` ends every wait (a rate-limit window, a backoff) at once; `on_answer` is
        told of every answer (metrics)."""
        self.settings = settings
        self.pacer = pacer or Pacer(stop=stop)
        self.transport = PacedRetryTransport(
            inner or ShardedTransport(settings.concurrency + 2),
            self.pacer,
            attempts=attempts,
            sleep=sleep,
            on_answer=on_answer,
        )
        # The SDK sends no Intercom-Version of its own: without it the app's default version
        # would decide the shapes we parse.
        version = {"Intercom-Version": API_VERSION}
        self._http = httpx.Client(
            transport=self.transport,
            timeout=settings.timeout,
            base_url=settings.base_url,
            headers={
                **version,
                "Authorization": f"Bearer {settings.token}",
                "Accept": "application/json",
            },
        )
        self._sdk = Intercom(
            base_url=settings.base_url,
            token=settings.token,
            headers=version,
            httpx_client=self._http,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> IntercomClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(
        self, resource: str, query: Mapping[str, Any], starting_after: str | None = None
    ) -> SearchPage:
        """One page of `POST /{resource}/search`; the caller walks `next` itself.

        The SDK's pagers never advance past page one (docs/intercom-assumptions.md, R-sdk-pagers).
        """
        pagination: dict[str, Any] = {"per_page": PER_PAGE}
        if starting_after is not None:
            pagination["starting_after"] = starting_after
        listing = self._json(
            "POST", f"{resource}/search", json={"query": dict(query), "pagination": pagination}
        )
        if listing is None:
            raise IntercomUnavailable(f"Intercom answered 404 to POST /{resource}/search")
        items = listing.get(resource)
        token = _dict(_dict(listing.get("pages")).get("next")).get("starting_after")
        total = listing.get("total_count")
        return SearchPage(
            items=[i for i in items if isinstance(i, dict)] if isinstance(items, list) else [],
            next=token if isinstance(token, str) and token else None,
            total=total if isinstance(total, int) else None,
        )

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        """A whole conversation with its parts (the 500 most recent), or None if deleted."""
        return self._json(
            "GET",
            f"conversations/{quote(conversation_id, safe='')}",
            params=_PLAINTEXT,
            one_object=True,
        )

    def ticket(self, ticket_id: str) -> dict[str, Any] | None:
        """`GET /tickets/{id}`, or None if deleted."""
        return self._json("GET", f"tickets/{quote(ticket_id, safe='')}", one_object=True)

    def read(self, resource: str, object_id: str) -> dict[str, Any] | None:
        """A conversation or a ticket by its resource's name (`conversations`, `tickets`)."""
        if resource == "conversations":
            return self.conversation(object_id)
        return self.ticket(object_id)

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        """A contact, or None if gone. On 2.14 a contact merged into another answers 404
        like a deleted one (register: R-merged-contacts); from 2.16 it answers 410 with a
        canonical link, which is followed."""
        for _ in range(MAX_MERGE_HOPS):
            request = f"GET /contacts/{contact_id}"
            try:
                return self._find(request, self._sdk.contacts.find, contact_id=contact_id)
            except Merged as merged:
                contact_id = merged.into
        return None

    def company(self, company_id: str) -> dict[str, Any] | None:
        request = f"GET /companies/{company_id}"
        return self._find(request, self._sdk.companies.find, company_id=company_id)

    def tags(self) -> list[dict[str, Any]]:
        """`GET /tags`: every tag of the workspace, `{type: tag, id, name}` (listTags). The
        contact object names its tags by id alone; this gives their names."""
        return self._workspace_list("tags", ("data",))

    def segments(self) -> list[dict[str, Any]]:
        """`GET /segments`: every segment of the workspace, `{type: segment, id, name}`
        (listSegments; `segment_list` "may also have a pages object", so `pages.next` is
        followed). A filter names segments; this says which exist."""
        return self._workspace_list("segments", ("segments", "data"))

    def ticket_types(self) -> list[dict[str, Any]]:
        """`GET /ticket_types`: every ticket type, with `name` and, as listTicketTypes'
        example shows, `ticket_type_attributes.data[].name`."""
        return self._workspace_list("ticket_types", ("data",))

    def data_attributes(self, model: str) -> list[dict[str, Any]]:
        """`GET /data_attributes?model=...` (contact, company or conversation), archived ones
        too (lisDataAttributes): an archived attribute's values stay on the objects, so a
        filter on it can still match. Custom ones have `custom: true` and a `full_name` of
        `custom_attributes.NAME`."""
        params = {"model": model, "include_archived": "true"}
        return self._workspace_list("data_attributes", ("data",), params)

    def _workspace_list(
        self, path: str, keys: tuple[str, ...], params: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """A list of the workspace's own (as JSON: the SDK is not needed for a list), every
        page of it; a 404 is a failure, not an empty list."""
        items = self._walk(path, params or {}, keys, f"GET /{path}")
        if items is None:
            raise _failed("Intercom answered 404", f"GET /{path}", True)
        return items

    def contact_segments(self, contact_id: str) -> list[dict[str, Any]] | None:
        """`GET /contacts/{id}/segments`: the segments the contact is in (the contact object
        does not show them), or None if the contact is gone (404, as a merged one on 2.14)."""
        return self._contact_list(contact_id, "segments")

    def contact_tags(self, contact_id: str) -> list[dict[str, Any]] | None:
        """`GET /contacts/{id}/tags`: all the contact's tags, with names; None if gone. The
        contact object lists at most 10, by id (`tags.has_more` says there are more)."""
        return self._contact_list(contact_id, "tags")

    def contact_companies(self, contact_id: str) -> list[dict[str, Any]] | None:
        """`GET /contacts/{id}/companies`: every company of the contact, whole; None if
        gone. The contact object lists at most 10, by id (`companies.has_more`)."""
        return self._contact_list(contact_id, "companies")

    def _contact_list(self, contact_id: str, what: str) -> list[dict[str, Any]] | None:
        """One of a contact's lists, following a merge (410, from 2.16) like `contact`."""
        for _ in range(MAX_MERGE_HOPS):
            try:
                return self._pages(contact_id, what)
            except Merged as merged:
                contact_id = merged.into
        return None

    def _pages(self, contact_id: str, what: str) -> list[dict[str, Any]] | None:
        """Every page of the list, by its `pages.next` links (only the companies have pages)."""
        request = f"GET /contacts/{contact_id}/{what}"
        # 2.14 lists a contact's companies under `data` (listCompaniesForAContact's
        # example) or `companies` (its schema, `contact_attached_companies`).
        keys = ("data", "companies") if what == "companies" else ("data",)
        path = f"contacts/{quote(contact_id, safe='')}/{what}"
        return self._walk(path, {}, keys, request)

    def _walk(
        self, path: str, params: dict[str, str], keys: tuple[str, ...], request: str
    ) -> list[dict[str, Any]] | None:
        """Every page of a list, by its `pages.next` links; None if it answered 404."""
        page: tuple[str, dict[str, str]] | None = (path, params)
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        while page is not None:
            if len(seen) == MAX_LIST_PAGES or repr(page) in seen:
                raise _failed("Intercom's pages do not end", request, True)
            seen.add(repr(page))
            listing = self._json("GET", page[0], one_object=True, params=page[1])
            if listing is None:  # gone (before or between two pages)
                return None
            items.extend(_listed(listing, keys, request))
            page = self._next_page(listing, request)
        return items

    def _next_page(
        self, listing: Mapping[str, Any], request: str
    ) -> tuple[str, dict[str, str]] | None:
        """(path, params) of `pages.next`, a link ("A link to the next page of results",
        `pages_link`); None on the last page. A link away from the API is refused: the
        token goes only where it was configured to, and a list cut short would be wrong."""
        link = _dict(listing.get("pages")).get("next")
        if not link:
            return None
        base = urlsplit(str(self._http.base_url))
        target = urlsplit(link if isinstance(link, str) else "")
        prefix = base.path.rstrip("/") + "/"
        same = target.netloc in ("", base.netloc) and target.scheme in ("", base.scheme)
        if not same or not target.path.startswith(prefix):
            raise _failed("Intercom's next page link leaves the API", request, True)
        params = dict(parse_qsl(target.query))
        return target.path[len(prefix) :], params

    def me(self) -> dict[str, Any]:
        """`GET /me`: the admin and workspace the token belongs to."""
        return _plain(self._call("GET /me", self._sdk.admins.identify, one_object=False)) or {}

    def _json(
        self, method: str, path: str, *, one_object: bool = False, **kwargs: Any
    ) -> dict[str, Any] | None:
        """One request read as a JSON object; None for a 404 (gone)."""
        request = f"{method} /{path}"
        try:
            response = self._http.request(method, path, **kwargs)
            if response.is_success:
                body = response.json()
                if not isinstance(body, dict):
                    raise ValueError(path)
                return _storable(body) if _SURROGATE_ESCAPE.search(response.content) else body
            try:
                error_body = response.json()
            except ValueError:
                error_body = None
        except httpx.TransportError as exc:
            words = f"Intercom unreachable ({type(exc).__name__})"
            raise _failed(words, request, one_object) from None
        except ValueError:  # a 2xx whose body is not a JSON object
            raise _failed(_NOT_JSON, request, one_object) from None
        failure = self._translate(response.status_code, response.headers, error_body)
        if isinstance(failure, NotFound):
            return None
        if isinstance(failure, str):
            raise _failed(failure, request, one_object)
        raise failure

    def _find(self, request: str, method: Any, **kwargs: Any) -> dict[str, Any] | None:
        try:
            return _plain(self._call(request, method, one_object=True, **kwargs))
        except NotFound:
            return None

    def _call(self, request: str, method: Any, *, one_object: bool, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except ApiError as exc:
            failure = self._translate(exc.status_code or 0, exc.headers or {}, exc.body)
        except httpx.TransportError as exc:
            failure = f"Intercom unreachable ({type(exc).__name__})"
        except ValueError:  # a 2xx whose body is not JSON
            failure = _NOT_JSON
        if isinstance(failure, str):
            raise _failed(failure, request, one_object) from None
        raise failure from None

    def _translate(self, status: int, headers: Mapping[str, str], body: Any) -> Exception | str:
        """An error answer: an exception to raise as it is, or the words of a failure."""
        code = _error_code(body)
        if status in (401, 403):
            hint = "refused the access token" if status == 401 else "refused access (plan or scope)"
            return IntercomAuthError(
                f"Intercom {hint} in ${self.settings.token_env}: {status} {code or ''}".rstrip()
            )
        if status == 404:
            return NotFound()
        if status == 410:
            link = headers.get("link") or headers.get("Link") or ""
            match = _CANONICAL.search(link)
            return Merged(match.group(1)) if match else NotFound()
        return f"Intercom answered {status}" + (f" ({code})" if code else "")


_NOT_JSON = "Intercom answered with a body that is not a JSON object"


def _failed(words: str, request: str, one_object: bool) -> IntercomUnavailable:
    """The error for a failed request, naming it (method and route, never a header)."""
    message = f"{words} to {request}"
    return (
        IntercomObjectError(message, request=request)
        if one_object
        else IntercomUnavailable(message)
    )


def _listed(
    listing: Mapping[str, Any], keys: tuple[str, ...], request: str
) -> list[dict[str, Any]]:
    """The objects of a list answer, under the first of `keys` it has. An answer without
    one is a failure, not an empty list: a filter would reject what it could not see."""
    for key in keys:
        items = listing.get(key)
        if isinstance(items, list):
            return [item for item in items if isinstance(item, dict)]
    raise _failed(f"Intercom answered without a {keys[0]!r} list", request, True)


def _storable(value: Any) -> Any:
    """The value with every lone surrogate replaced by U+FFFD, so it can be stored and sent."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def _plain(model: Any) -> dict[str, Any] | None:
    """An SDK model back to the JSON Intercom sent (unknown fields included)."""
    if model is None:
        return None
    if isinstance(model, BaseModel):
        # Python mode: the SDK's JSON-mode serializer re-dumps with warnings on, and warns
        # (echoing customer data) on every odd field; this mode keeps odd values as they came.
        dumped = model.model_dump(mode="python", by_alias=True, exclude_unset=True, warnings=False)
        return dict(_storable(dumped))
    return _storable(model) if isinstance(model, dict) else None


def who(me: Mapping[str, Any]) -> str:
    """`GET /me` in words, for `check` and the daemon's first log line."""
    app = _dict(me.get("app"))
    region = app.get("region") or "?"
    return f"workspace {app.get('name')!r} (region {region}) as {me.get('name')!r}"


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _error_code(body: Any) -> str | None:
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = errors[0].get("code")
            return str(code) if code else None
    return None
