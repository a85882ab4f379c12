"""Intercom's app webhooks, as a test double: notifications sent the way Intercom documents
them ("Webhook notifications"), to the daemon's `[webhooks]` server on 127.0.0.1.

A POST of a `notification_event` (`topic`, `id`, `app_id`, `data.item` with the object's
`type` and `id`), signed with `X-Hub-Signature: sha1=` + the hex HMAC-SHA1 of the raw body
keyed by the app's client secret. The item carries what the caller says, so a test can send
an object whose content lies (the daemon must read the object itself).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Mapping
from typing import Any

import httpx


def sign(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature` Intercom sends for this body."""
    return "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


class IntercomNotifier:
    def __init__(
        self, base_url: str, secret: str, *, path: str = "/intercom/webhooks", app_id: str = "fake"
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.path = path
        self.secret = secret
        self.app_id = app_id
        self._ids = itertools.count(1)
        self._client = httpx.Client(timeout=10.0)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> IntercomNotifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def notification(
        self,
        topic: str,
        item: Mapping[str, Any],
        notification_id: str | None = None,
    ) -> bytes:
        """A notification's body, as Intercom would send it."""
        doc = {
            "type": "notification_event",
            "app_id": self.app_id,
            "data": {"type": "notification_event_data", "item": dict(item)},
            "links": {},
            "id": notification_id or f"notif_{next(self._ids):08d}",
            "topic": topic,
            "delivery_status": "pending",
            "delivery_attempts": 1,
            "delivered_at": 0,
            "first_sent_at": 0,
            "created_at": 0,
            "self": None,
        }
        return json.dumps(doc).encode()

    def notify(
        self,
        topic: str,
        item_type: str,
        item_id: str,
        *,
        notification_id: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        """Send one signed notification naming an object; the answer's status."""
        item = {"type": item_type, "id": item_id, **(extra or {})}
        return self.post(self.notification(topic, item, notification_id))

    def post(
        self,
        body: bytes,
        *,
        signature: str | None = None,
        path: str | None = None,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
    ) -> int:
        """Send a body, signed with the secret unless `signature` says otherwise."""
        sent = {
            "Content-Type": "application/json",
            "User-Agent": "intercom-parrot-service-client/1.0",
            "X-Hub-Signature": sign(body, self.secret) if signature is None else signature,
            **(headers or {}),
        }
        url = self.base_url + (self.path if path is None else path)
        return self._client.request(method, url, content=body, headers=sent).status_code
