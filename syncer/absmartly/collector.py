"""The one owner of the Collector's HTTP: its headers and client, publishing a body, proving
the key and proving the endpoint is the Collector. A refused key (401, 403) is met here, in
one way, whichever of the three meets it."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx

from syncer.absmartly.payload import headers
from syncer.config import CollectorSettings
from syncer.errors import CollectorAuthError, CollectorUnavailable

CHECK_TIMEOUT = 10.0  # seconds, for the start-up checks (a publish takes absmartly.timeout)


class Collector:
    """The ABsmartly Collector at `absmartly.endpoint`, with the configured key."""

    def __init__(
        self,
        settings: CollectorSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float | None = None,
    ) -> None:
        self.settings = settings
        self._http = httpx.Client(
            transport=transport,
            timeout=settings.timeout if timeout is None else timeout,
            headers=headers(settings),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def put(self, route: str, data: bytes) -> httpx.Response:
        """`PUT {endpoint}{route}` with a body; a transport error is raised as it is (the
        caller decides it is transient), a refused key as CollectorAuthError."""
        response = self._http.put(self.settings.endpoint + route, content=data)
        self._refused(response)
        return response

    def key(self) -> str:
        """Whether the Collector takes the key: a short verdict, or CollectorAuthError /
        CollectorUnavailable.

        `GET /context/authed` is what ABsmartly's Segment destination uses (not in the
        published spec): a 404 there means the key can only be proven by the first publish.
        """
        try:
            response = self._http.get(self.settings.endpoint + "/context/authed")
        except httpx.TransportError as exc:
            raise CollectorUnavailable(
                f"Collector unreachable at {self.settings.endpoint}: {type(exc).__name__}"
            ) from None
        self._refused(response)
        if response.status_code in (404, 405):
            return "reachable; the key is checked by the first publish (no /context/authed route)"
        if 200 <= response.status_code < 300:
            return "key accepted"
        raise CollectorUnavailable(f"Collector answered {response.status_code}")

    def shape(self) -> str | None:
        """Whether the endpoint answers as the Collector does; None if so, else what is wrong.

        `key`'s route is not in the published spec, and a web server that answers every path
        (a console URL, a proxy's error page) passes it. So publish nothing: `PUT /context`
        with an empty object, which the Collector refuses with JSON of its own shape (400
        with `{"ok": false, "errors": [...]}`, or `{"code", "message"}`) and records nothing.
        """
        try:
            answer = self.put("/context", b"{}")
        except httpx.TransportError as exc:
            return f"Collector unreachable: {type(exc).__name__}"
        except CollectorAuthError as exc:
            return str(exc)
        try:
            body: Any = answer.json()
        except ValueError:
            body = None
        if _collector_body(body):
            return None
        return (
            f"answered PUT /context with {answer.status_code}{_kind(answer)}, not the "
            "Collector's JSON: is absmartly.endpoint the Collector's "
            f"(https://NAME.absmartly.io/v1)?{_hint(self.settings.endpoint)}"
        )

    def _refused(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            raise CollectorAuthError(
                f"the Collector refused the API key in ${self.settings.api_key_env} "
                f"({response.status_code})"
            )


def check_key(settings: CollectorSettings, timeout: float = CHECK_TIMEOUT) -> str:
    """`Collector.key`, for the start-up checks."""
    with Collector(settings, timeout=timeout) as collector:
        return collector.key()


def _collector_body(body: Any) -> bool:
    """The Collector's answers: `{"ok": bool, "errors": [...], ...}` or `{"code", "message"}`."""
    if not isinstance(body, dict):
        return False
    if isinstance(body.get("ok"), bool):
        return isinstance(body.get("errors", []), list)
    return isinstance(body.get("code"), int) and isinstance(body.get("message"), str)


def _kind(answer: httpx.Response) -> str:
    kind = answer.headers.get("content-type", "").split(";")[0].strip()
    return f", {kind}" if kind and kind != "application/json" else ""


def _hint(endpoint: str) -> str:
    path = urllib.parse.urlsplit(endpoint).path.rstrip("/")
    return "" if path.endswith("/v1") else " (the path usually ends in /v1)"
