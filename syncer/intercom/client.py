"""The Intercom client: the official SDK over our own paced, retrying httpx client.

SDK models are turned back into plain JSON-shaped dicts here, at the edge, so detection works
on Intercom's documented shapes and never on SDK classes. SDK and httpx errors are translated
here and nowhere else; their text (which holds headers and bodies) is never shown.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
from intercom import Intercom
from intercom.core.api_error import ApiError
from pydantic import BaseModel

from syncer.config import IntercomSettings
from syncer.errors import IntercomAuthError, IntercomUnavailable
from syncer.intercom.transport import PacedRetryTransport, Pacer

API_VERSION: Final = "2.14"
PER_PAGE: Final = 150
MAX_MERGE_HOPS: Final = 3
_CANONICAL = re.compile(r"<[^>]*/contacts/([^>/]+)>\s*;\s*rel=\"?canonical\"?")


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
        attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.pacer = pacer or Pacer()
        limits = httpx.Limits(max_connections=settings.concurrency + 2)
        self.transport = PacedRetryTransport(
            inner or httpx.HTTPTransport(limits=limits), self.pacer, attempts=attempts, sleep=sleep
        )
        self._http = httpx.Client(transport=self.transport, timeout=settings.timeout)
        self._sdk = Intercom(
            base_url=settings.base_url,
            token=settings.token,
            # The SDK sends no Intercom-Version of its own: without it the app's default
            # version would decide the shapes we parse.
            headers={"Intercom-Version": API_VERSION},
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

        The SDK's pagers never advance past page one (reference/intercom-notes.md).
        """
        pagination: dict[str, Any] = {"per_page": PER_PAGE}
        if starting_after is not None:
            pagination["starting_after"] = starting_after
        endpoint = self._sdk.conversations if resource == "conversations" else self._sdk.tickets
        pager = self._call(endpoint.search, query=dict(query), pagination=pagination)
        listing = _plain(pager.response) or {}
        items = listing.get(resource)
        pages = listing.get("pages") if isinstance(listing.get("pages"), dict) else {}
        nxt = pages.get("next") if isinstance(pages.get("next"), dict) else {}
        token = nxt.get("starting_after")
        total = listing.get("total_count")
        return SearchPage(
            items=[i for i in items if isinstance(i, dict)] if isinstance(items, list) else [],
            next=token if isinstance(token, str) and token else None,
            total=total if isinstance(total, int) else None,
        )

    def conversation(self, conversation_id: str) -> dict[str, Any] | None:
        """A whole conversation with its parts (the 500 most recent), or None if deleted."""
        return self._find(
            self._sdk.conversations.find, conversation_id=conversation_id, display_as="plaintext"
        )

    def contact(self, contact_id: str) -> dict[str, Any] | None:
        """A contact, following merges (410 with a canonical link), or None if gone."""
        for _ in range(MAX_MERGE_HOPS):
            try:
                return self._find(self._sdk.contacts.find, contact_id=contact_id)
            except _Merged as merged:
                contact_id = merged.into
        return None

    def company(self, company_id: str) -> dict[str, Any] | None:
        return self._find(self._sdk.companies.find, company_id=company_id)

    def me(self) -> dict[str, Any]:
        """`GET /me`: the admin and workspace the token belongs to."""
        return _plain(self._call(self._sdk.admins.identify)) or {}

    def _find(self, method: Any, **kwargs: Any) -> dict[str, Any] | None:
        try:
            return _plain(self._call(method, **kwargs))
        except _NotFound:
            return None

    def _call(self, method: Any, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except ApiError as exc:
            raise self._translate(exc) from None
        except httpx.TransportError as exc:
            raise IntercomUnavailable(f"Intercom unreachable: {type(exc).__name__}") from None
        except ValueError:  # a 2xx whose body is not JSON
            raise IntercomUnavailable("Intercom answered with a body that is not JSON") from None

    def _translate(self, exc: ApiError) -> Exception:
        status = exc.status_code or 0
        code = _error_code(exc.body)
        if status in (401, 403):
            hint = "refused the access token" if status == 401 else "refused access (plan or scope)"
            return IntercomAuthError(
                f"Intercom {hint} in ${self.settings.token_env}: {status} {code or ''}".rstrip()
            )
        if status == 404:
            return _NotFound()
        if status == 410:
            link = (exc.headers or {}).get("link") or (exc.headers or {}).get("Link") or ""
            match = _CANONICAL.search(link)
            return _Merged(match.group(1)) if match else _NotFound()
        return IntercomUnavailable(f"Intercom answered {status} {code or ''}".rstrip())


class _NotFound(Exception):
    pass


class _Merged(Exception):
    def __init__(self, into: str) -> None:
        super().__init__(into)
        self.into = into


def _plain(model: Any) -> dict[str, Any] | None:
    """An SDK model back to the JSON Intercom sent (unknown fields included)."""
    if model is None:
        return None
    if isinstance(model, BaseModel):
        # Python mode: the SDK's JSON-mode serializer re-dumps with warnings on, and warns
        # (echoing customer data) on every odd field; this mode keeps odd values as they came.
        return model.model_dump(mode="python", by_alias=True, exclude_unset=True, warnings=False)
    return model if isinstance(model, dict) else None


def _error_code(body: Any) -> str | None:
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            code = errors[0].get("code")
            return str(code) if code else None
    return None
