"""Intercom's app webhooks as hints (issue 28): a notification names a conversation or a
ticket, and the daemon reads that object at once, by GET, through the same detectors, outbox
and keys as its scans.

Nothing of a notification is trusted but the id it names: the event, its time and its contact
come from the object Intercom answers the GET with. Polling stays the truth, so a
notification that never arrives changes only how soon a goal arrives, and a forged or
replayed one costs at most one read and adds nothing.

What Intercom documents (register: R-webhooks; developers.intercom.com, "Webhook Topics"
and "Webhook notifications"): a POST of a JSON `notification_event` with `topic`, `id` and
`data.item` (the object, with its `type` and `id`); `X-Hub-Signature: sha1=` + the hex
HMAC-SHA1 of the raw body keyed by the app's client secret; a `ping` topic every
subscription gets; an answer within 5 s (or the notification is retried once, a minute
later), and faster endpoints served first. So the server answers at once and a reader
thread does the reading.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from syncer import pipeline
from syncer.config import WebhookSettings
from syncer.errors import ConfigError
from syncer.listening import bind_server

if TYPE_CHECKING:
    from syncer.absmartly.publisher import Publisher

log = logging.getLogger("syncer.webhooks")

MAX_BODY: Final = 1 << 20  # 1 MiB: a conversation notification carries its object, not more
PING: Final = "ping"
# The topics whose object may hold a goal event, and the resource to read. Any other topic
# is refused (4xx): subscribe the app to these alone (README "Webhook hints").
TOPICS: Final[Mapping[str, str]] = {
    "conversation.user.created": "conversations",  # started, the opening message
    "conversation.user.replied": "conversations",  # a message; a bot-opened one answered
    "conversation.admin.closed": "conversations",  # closed
    "conversation.rating.added": "conversations",  # rated
    "conversation.operator.replied": "conversations",  # Fin's answers: AI resolutions
    "ticket.created": "tickets",
}
ITEM_TYPES: Final = {"conversations": "conversation", "tickets": "ticket"}
# An id that goes into a URL path: what Intercom's ids look like, nothing a path could abuse.
OBJECT_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Intercom retries a failed notification a minute later; ten minutes of ids is plenty.
REPLAY_SECONDS: Final = 600.0
REPLAY_IDS: Final = 10_000
MAX_PENDING: Final = 10_000  # objects waiting to be read; past that the scans find them
READ_TIMEOUT: Final = 10.0  # seconds a client may take to send its request

# Outcomes, as the metric's label and the server's counter.
READ: Final = "read"
PINGED: Final = "ping"
REPLAYED: Final = "replayed"
DROPPED: Final = "dropped"
STANDBY: Final = "standby"
BAD_SIGNATURE: Final = "bad_signature"
UNKNOWN_TOPIC: Final = "unknown_topic"
TOO_LARGE: Final = "too_large"
MALFORMED: Final = "malformed"
WRONG_METHOD: Final = "wrong_method"
WRONG_PATH: Final = "wrong_path"


def signature_ok(body: bytes, header: str | None, secret: bytes) -> bool:
    """Whether `X-Hub-Signature` is `sha1=` and the hex HMAC-SHA1 of the raw body keyed by
    the client secret, compared in constant time."""
    if not header or not secret:
        return False
    scheme, _, given = header.strip().partition("=")
    if scheme.strip().lower() != "sha1":
        return False
    expected = hmac.new(secret, body, hashlib.sha1).hexdigest().encode("ascii")
    return hmac.compare_digest(expected, given.strip().lower().encode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class Hint:
    """An object a notification named: read it now."""

    resource: str  # "conversations" | "tickets"
    object_id: str


@dataclass(frozen=True, slots=True)
class Judged:
    """What one notification means: the answer, the counter's outcome, and what to read."""

    status: int
    outcome: str
    topic: str | None = None
    notification: str | None = None  # the notification's own id: a retry repeats it
    hint: Hint | None = None


def judge(body: bytes, signature: str | None, secret: bytes) -> Judged:
    """A POSTed body (within MAX_BODY) judged: the signature before anything is parsed, then
    the topic, then the object it names. Pure."""
    if not signature_ok(body, signature, secret):
        return Judged(401, BAD_SIGNATURE)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return Judged(400, MALFORMED)
    topic = doc.get("topic") if isinstance(doc, dict) else None
    if not isinstance(topic, str) or not topic:
        return Judged(400, MALFORMED)
    shown = _shown(topic)
    if topic == PING:
        return Judged(200, PINGED, shown)
    resource = TOPICS.get(topic)
    if resource is None:
        return Judged(422, UNKNOWN_TOPIC, shown)
    data = doc.get("data")
    item = data.get("item") if isinstance(data, dict) else None
    object_id = item.get("id") if isinstance(item, dict) else None
    if isinstance(object_id, int) and not isinstance(object_id, bool):
        object_id = str(object_id)
    if (
        not isinstance(item, dict)
        or item.get("type") != ITEM_TYPES[resource]
        or not isinstance(object_id, str)
        or not OBJECT_ID.fullmatch(object_id)
    ):
        return Judged(400, MALFORMED, shown)
    notification = doc.get("id")
    nid = notification[:128] if isinstance(notification, str) and notification else None
    return Judged(200, READ, shown, nid, Hint(resource, object_id))


def _shown(text: str, limit: int = 64) -> str:
    """A topic as a log line may carry it: printable ASCII, cut short."""
    return "".join(ch if " " < ch <= "~" else "?" for ch in text[:limit])


class Hints:
    """The objects waiting to be read (each once, however many notifications named it), and
    the notification ids seen lately, so that a replay costs no second read."""

    def __init__(
        self,
        memory: float = REPLAY_SECONDS,
        limit: int = REPLAY_IDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.memory, self.limit, self.clock = memory, limit, clock
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._pending: dict[Hint, None] = {}

    def offer(self, notification: str | None, hint: Hint) -> str:
        """Queue the hint: READ, or REPLAYED (its id was seen lately), or DROPPED (too many
        wait; the scans find them)."""
        with self._lock:
            now = self.clock()
            while self._seen and next(iter(self._seen.values())) < now - self.memory:
                self._seen.popitem(last=False)
            if notification is not None:
                if notification in self._seen:
                    return REPLAYED
                self._seen[notification] = now
                while len(self._seen) > self.limit:
                    self._seen.popitem(last=False)
            if hint not in self._pending and len(self._pending) >= MAX_PENDING:
                return DROPPED
            self._pending[hint] = None
            self.ready.set()
            return READ

    def take(self) -> list[Hint]:
        """Every hint waiting, in the order they came; none waits after."""
        with self._lock:
            hints = list(self._pending)
            self._pending.clear()
            self.ready.clear()
            return hints


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    webhooks: WebhookServer


class WebhookServer:
    """The listening half: bound by `bind`, serving once `start` gives it a reader."""

    def __init__(self, settings: WebhookSettings, server: _Server) -> None:
        self.settings = settings
        self.secret = settings.client_secret.encode("utf-8")
        self.hints = Hints()
        self.outcomes: Counter[str] = Counter()
        self.on_outcome: Callable[[str], None] | None = None
        self._server = server
        server.webhooks = self
        self._count_lock = threading.Lock()
        self._logged: dict[str, float] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.reading = False  # until `start`: answered, not read

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def serve(self) -> None:
        """Answer from a thread of its own: until `start`, a notification is answered 200
        and read by nobody (`standby`: starting, or waiting for the lease; polling will
        find its object), so Intercom neither waits on a queue nor counts an error."""
        serving = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="webhooks",
            daemon=True,
        )
        self._threads.append(serving)
        serving.start()

    def start(self, read: Callable[[list[Hint]], None], stop: threading.Event) -> None:
        """Read what the notifications name with `read`, from a thread of its own, until
        `stop` (or `close`)."""
        self._stop = stop
        reading = threading.Thread(target=self._read, args=(read,), name="hints", daemon=True)
        self._threads.append(reading)
        self.reading = True
        reading.start()
        log.info("webhook hints on http://%s%s", self.settings.listen, self.settings.path)

    def __enter__(self) -> WebhookServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        if self._threads:
            self._server.shutdown()
        self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _read(self, read: Callable[[list[Hint]], None]) -> None:
        while not self._stop.is_set():
            if not self.hints.ready.wait(0.2):
                continue
            hints = self.hints.take()
            if not hints or self._stop.is_set():
                continue
            try:
                read(hints)
            except Exception as exc:  # polling stays the truth: a failed read is only late
                log.warning("reading %d hinted objects failed: %s", len(hints), exc)

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Judged:
        """One request, judged and counted; a hint is queued (replays and all)."""
        if method != "POST":
            judged = Judged(405, WRONG_METHOD)
        elif urlsplit(target).path != self.settings.path:
            judged = Judged(404, WRONG_PATH)
        else:
            judged = judge(body, headers.get("x-hub-signature"), self.secret)
            if judged.hint is not None and not self.reading:
                judged = Judged(200, STANDBY, judged.topic, judged.notification)
            elif judged.hint is not None:
                outcome = self.hints.offer(judged.notification, judged.hint)
                if outcome != READ:
                    judged = Judged(200, outcome, judged.topic, judged.notification)
        self.count(judged)
        return judged

    def count(self, judged: Judged) -> None:
        with self._count_lock:
            self.outcomes[judged.outcome] += 1
        if self.on_outcome is not None:
            self.on_outcome(judged.outcome)
        # Topic and object id, never the body; a refusal once a minute per kind at most.
        target = judged.hint.object_id if judged.hint else "-"
        if judged.status < 400:
            log.debug("webhook %s: %s %s", judged.outcome, judged.topic or "-", target)
            return
        now = time.monotonic()
        if now - self._logged.get(judged.outcome, -math.inf) >= 60:
            self._logged[judged.outcome] = now
            log.warning(
                "webhook refused (%d, %s; topic %s); counted, nothing read",
                judged.status,
                judged.outcome,
                judged.topic or "-",
            )


def listening(
    settings: WebhookSettings | None,
) -> contextlib.AbstractContextManager[WebhookServer | None]:
    """`bind` now where `[webhooks]` is set (the server closes when the context ends), else
    a context of None."""
    return bind(settings) if settings is not None else contextlib.nullcontext(None)


def read_and_deliver(
    ctx: pipeline.Context, publisher: Publisher, lock: threading.Lock, hints: list[Hint]
) -> None:
    """Read the hinted objects and deliver what they hold, under the cycle's lock: the
    outbox keeps one reader and one sender at a time, as with cycles alone."""
    with lock:
        if ctx.stop.is_set():
            return
        started = time.monotonic()
        named = [(hint.resource, hint.object_id) for hint in hints]
        stats = pipeline.read_hinted(ctx, named, int(time.time()))
        delivered = publisher.drain(ctx.stop)
    log.info(
        "hints: %d objects read, %d new events, %d delivered, %.1fs",
        stats.fetched,
        stats.new,
        delivered.sent,
        time.monotonic() - started,
    )


def bind(settings: WebhookSettings) -> WebhookServer:
    """Check the secret and serve `[webhooks] listen` now, before anything else opens (read
    nothing until `start`): a missing secret or a bad address is a ConfigError (exit 2), a
    port in use a SyncerError."""
    if not settings.client_secret:
        raise ConfigError(
            f"webhooks.client_secret_env: environment variable {settings.client_secret_env} "
            "is not set (the app's client secret, from the Developer Hub's Basic Info page)"
        )
    hooks = WebhookServer(
        settings, bind_server("webhooks.listen", settings.listen, _Server, _Handler)
    )
    hooks.serve()
    return hooks


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT  # a client that sends slowly is cut off, not waited on

    def _serve(self) -> None:
        hooks = self.server.webhooks
        method = self.command
        length_text = self.headers.get("content-length")
        if method == "POST" and urlsplit(self.path).path == hooks.settings.path:
            length = int(length_text) if length_text and length_text.isdigit() else None
            if length is None:
                self.close_connection = True
                hooks.count(Judged(411, MALFORMED))
                return self._send(411, b"a Content-Length is required\n")
            if length > MAX_BODY:
                self.close_connection = True  # the body stays unread
                hooks.count(Judged(413, TOO_LARGE))
                return self._send(413, b"body over 1 MiB\n")
            body = self.rfile.read(length)
            if len(body) < length:
                self.close_connection = True
                return None
        else:
            self.close_connection = True  # whatever body it sent stays unread
            body = b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        judged = hooks.handle(method, self.path, headers, body)
        self._send(judged.status, f"{judged.outcome}\n".encode())
        return None

    do_POST = do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def do_HEAD(self) -> None:
        self.close_connection = True
        self.server.webhooks.count(Judged(405, WRONG_METHOD))
        self.send_response(405)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, text: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(text)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the server's own counts and log lines say what matters, without the body
