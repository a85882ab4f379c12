"""Intercom's app webhooks as hints (issue 28): the signature, the judgement of a
notification, the replay memory, and a daemon's context reading what a signed notification
names at once, and nothing for a notification it refuses."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from syncer import config as config_mod
from syncer import webhooks
from syncer.config import WebhookSettings
from syncer.daemon import run_cycle
from syncer.errors import ConfigError
from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.fake_webhooks import IntercomNotifier, sign
from syncer.testing.workspace import Workspace
from tests.conftest import COLLECTOR_KEY, INTERCOM_TOKEN, config_text, wait_until
from tests.test_cycle import cycle_context
from tests.test_daemon import Daemon

SECRET = "app-client-secret-0123456789"
PATH = "/intercom/webhooks"

# RFC 2202, HMAC-SHA1 test case 1: ground truth from the standard, not from this code.
RFC2202_KEY = b"\x0b" * 20
RFC2202_DATA = b"Hi There"
RFC2202_DIGEST = "b617318655057264e28bc0b6fb378c8ef146be00"


def test_the_signature_is_the_hex_hmac_sha1_of_the_raw_body() -> None:
    ok = webhooks.signature_ok
    assert ok(RFC2202_DATA, f"sha1={RFC2202_DIGEST}", RFC2202_KEY)
    assert ok(RFC2202_DATA, f"sha1={RFC2202_DIGEST.upper()}", RFC2202_KEY)
    assert not ok(RFC2202_DATA + b" ", f"sha1={RFC2202_DIGEST}", RFC2202_KEY)  # another body
    assert not ok(RFC2202_DATA, f"sha1={RFC2202_DIGEST}", b"\x0c" * 20)  # another secret
    assert not ok(RFC2202_DATA, RFC2202_DIGEST, RFC2202_KEY)  # without the sha1= prefix
    assert not ok(RFC2202_DATA, f"sha256={RFC2202_DIGEST}", RFC2202_KEY)
    assert not ok(RFC2202_DATA, None, RFC2202_KEY)
    assert not ok(RFC2202_DATA, "sha1=é", RFC2202_KEY)  # not even ASCII: refused, no error
    assert not ok(RFC2202_DATA, f"sha1={RFC2202_DIGEST}", b"")  # no secret: nothing passes


def _body(topic: str, item: object, notification: str = "notif_1") -> bytes:
    return json.dumps(
        {
            "type": "notification_event",
            "id": notification,
            "topic": topic,
            "data": {"type": "notification_event_data", "item": item},
        }
    ).encode()


@pytest.mark.parametrize(
    ("body", "status", "outcome"),
    [
        (_body("ping", {"type": "ping", "message": "hi"}), 200, "ping"),
        (_body("conversation.user.replied", {"type": "conversation", "id": "42"}), 200, "read"),
        (_body("ticket.created", {"type": "ticket", "id": 7}), 200, "read"),
        (_body("contact.user.created", {"type": "contact", "id": "c1"}), 422, "unknown_topic"),
        (b"{not json", 400, "malformed"),
        (b"[]", 400, "malformed"),
        (_body("", {}), 400, "malformed"),
        (_body("conversation.user.created", {"type": "ticket", "id": "1"}), 400, "malformed"),
        (_body("conversation.user.created", {"type": "conversation"}), 400, "malformed"),
        (
            _body("conversation.user.created", {"type": "conversation", "id": "../me"}),
            400,
            "malformed",
        ),
        (
            _body("conversation.user.created", {"type": "conversation", "id": True}),
            400,
            "malformed",
        ),
    ],
)
def test_a_signed_notification_is_judged_by_topic_and_the_object_it_names(
    body: bytes, status: int, outcome: str
) -> None:
    judged = webhooks.judge(body, sign(body, SECRET), SECRET.encode())
    assert (judged.status, judged.outcome) == (status, outcome)
    assert (judged.hint is not None) == (outcome == "read")
    # The same body, signed with another secret, is refused before anything is parsed.
    forged = webhooks.judge(body, sign(body, "another-secret"), SECRET.encode())
    assert (forged.status, forged.outcome, forged.topic) == (401, "bad_signature", None)


def test_a_hint_names_what_to_read_and_only_that() -> None:
    body = _body(
        "conversation.rating.added",
        {"type": "conversation", "id": 123, "conversation_rating": {"rating": 1}},
    )
    judged = webhooks.judge(body, sign(body, SECRET), SECRET.encode())
    assert judged.hint == webhooks.Hint("conversations", "123")
    assert (judged.topic, judged.notification) == ("conversation.rating.added", "notif_1")


def test_a_replayed_notification_is_queued_once_within_the_memory() -> None:
    now = [0.0]
    hints = webhooks.Hints(memory=600, clock=lambda: now[0])
    hint = webhooks.Hint("conversations", "1")
    assert hints.offer("n1", hint) == "read"
    assert hints.offer("n1", hint) == "replayed"
    assert hints.offer("n2", hint) == "read"  # another notification: the object waits once
    assert hints.take() == [hint]
    assert hints.take() == []
    now[0] = 599.0
    assert hints.offer("n1", hint) == "replayed"
    now[0] = 1200.0  # past the memory: a retry this late reads again, once
    assert hints.offer("n1", hint) == "read"
    assert hints.take() == [hint]


def test_the_memory_is_bounded_by_count_too() -> None:
    hints = webhooks.Hints(limit=3, clock=lambda: 0.0)
    for i in range(5):
        hints.offer(f"n{i}", webhooks.Hint("tickets", str(i)))
    assert hints.offer("n0", webhooks.Hint("tickets", "0")) == "read"  # forgotten: oldest
    assert hints.offer("n4", webhooks.Hint("tickets", "4")) == "replayed"


def test_webhooks_config_is_off_unless_listen_is_set_and_checked_when_set(
    write_config: Callable, tmp_path: Path
) -> None:
    base = config_text("http://127.0.0.1:9", tmp_path / "s.db")
    env = {
        "INTERCOM_CLIENT_SECRET": SECRET,
        "INTERCOM_ACCESS_TOKEN": INTERCOM_TOKEN,
        "ABSMARTLY_API_KEY": COLLECTOR_KEY,
    }
    assert config_mod.load(write_config(base), env=env).webhooks is None
    on = config_mod.load(write_config(base + '[webhooks]\nlisten = "127.0.0.1:8473"\n'), env=env)
    assert on.webhooks == WebhookSettings("127.0.0.1:8473", PATH, "INTERCOM_CLIENT_SECRET", SECRET)
    assert SECRET not in repr(on.webhooks)
    for extra, message in [
        ('listen = "8473"', "webhooks.listen: expected host:port"),
        ('listen = "127.0.0.1:1"\npath = "hooks"', "webhooks.path: expected a URL path"),
        (
            'listen = "127.0.0.1:1"\nclient_secret_env = "s3cr3t-value"',
            "webhooks.client_secret_env: must name the environment variable",
        ),
        ('listen = "127.0.0.1:1"\nsecret = "x"', "webhooks.secret: unknown key"),
    ]:
        with pytest.raises(ConfigError, match=message):
            config_mod.load(write_config(base + f"[webhooks]\n{extra}\n"), env=env)


def test_run_refuses_to_listen_without_the_client_secret() -> None:
    with pytest.raises(ConfigError) as refused:
        webhooks.bind(WebhookSettings("127.0.0.1:0", PATH, "INTERCOM_CLIENT_SECRET", ""))
    assert "INTERCOM_CLIENT_SECRET is not set" in str(refused.value)


@contextmanager
def hinted_daemon(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
) -> Iterator[tuple[webhooks.WebhookServer, IntercomNotifier, Workspace, int]]:
    """A daemon's context with its webhook server and reader, as `run` wires them, and no
    scheduler: whatever reaches the Collector after the first cycle came through a hint."""
    path = write_config(
        config_text(
            fake_intercom.url, tmp_path / "s.db", collector_url=fake_collector.url, sync=""
        )  # the shipped settle and overlap
    )
    settings = WebhookSettings("127.0.0.1:0", PATH, "INTERCOM_CLIENT_SECRET", SECRET)
    with cycle_context(path) as (ctx, pub), webhooks.bind(settings) as server:
        lock = threading.Lock()
        t0 = int(time.time())
        run_cycle(ctx, pub, now=t0)  # pins the cursors, as the daemon's first cycle does
        server.start(lambda h: webhooks.read_and_deliver(ctx, pub, lock, h), ctx.stop)
        with IntercomNotifier(f"http://127.0.0.1:{server.port}", SECRET) as notifier:
            fake_intercom.requests.clear()
            yield server, notifier, fake_intercom.workspace, t0


def _gets(fake: FakeIntercom, resource: str = "conversations") -> int:
    return fake.calls()[f"GET /{resource}/{{id}}"]


def test_a_signed_notification_reads_its_object_at_once_and_delivers_it(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
) -> None:
    """No cycle runs after the notification: the goals arrive because of it, read from the
    object (the notification's own content, which lies about the contact and the time, is
    not used), and the search is never asked."""
    with hinted_daemon(fake_intercom, fake_collector, write_config, tmp_path) as (
        server,
        notifier,
        ws,
        t0,
    ):
        user = ws.add_contact(external_id="hinted-user")
        conv = ws.start_conversation(user, t0)
        lie = {"created_at": t0 - 86_400, "source": {"author": {"type": "user", "id": "nobody"}}}
        assert notifier.notify("conversation.user.created", "conversation", conv, extra=lie) == 200
        assert wait_until(lambda: len(fake_collector.goal_keys()) == 2, 20)
        ticket = ws.add_ticket(user, t0)
        assert notifier.notify("ticket.created", "ticket", ticket) == 200
        assert wait_until(lambda: len(fake_collector.goal_keys()) == 3, 20)
    names = sorted((name, at) for name, at, _ in fake_collector.goal_keys())
    assert names == [
        ("intercom_conversation_started", t0 * 1000),
        ("intercom_ticket_created", t0 * 1000),
        ("intercom_user_messaged", t0 * 1000),
    ]
    assert {uid for _, _, units in fake_collector.goal_keys() for _, uid in units} == {
        "hinted-user"
    }
    assert fake_intercom.calls()["POST /conversations/search"] == 0
    assert (_gets(fake_intercom), _gets(fake_intercom, "tickets")) == (1, 1)
    assert server.outcomes == {"read": 2}


def test_refused_notifications_are_counted_and_read_nothing(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    write_config: Callable,
    tmp_path: Path,
) -> None:
    """A wrong signature, an unknown topic, a body over 1 MiB, a malformed body, another
    method or path: a 4xx each, counted, no read. A replay of a read notification costs
    nothing more. A valid notification sent last is read: only it was."""
    with hinted_daemon(fake_intercom, fake_collector, write_config, tmp_path) as (
        server,
        notifier,
        ws,
        t0,
    ):
        conv = ws.start_conversation(ws.add_contact(external_id="refused"), t0)
        good = notifier.notification(
            "conversation.user.created", {"type": "conversation", "id": conv}, "notif_good"
        )
        huge = _body(
            "conversation.user.created",
            {"type": "conversation", "id": conv, "padding": "x" * (1 << 20)},
        )
        statuses = {
            "bad_signature": notifier.post(good, signature="sha1=" + "0" * 40),
            "unsigned": notifier.post(good, signature=""),
            "unknown_topic": notifier.notify("contact.user.created", "contact", "c1"),
            "too_large": notifier.post(huge),
            "malformed": notifier.post(b'{"topic": '),
            "wrong_item": notifier.notify("conversation.user.created", "ticket", conv),
            "wrong_method": notifier.post(good, method="PUT"),
            "wrong_path": notifier.post(good, path="/other"),
        }
        assert statuses == {
            "bad_signature": 401,
            "unsigned": 401,
            "unknown_topic": 422,
            "too_large": 413,
            "malformed": 400,
            "wrong_item": 400,
            "wrong_method": 405,
            "wrong_path": 404,
        }
        assert _gets(fake_intercom) == 0
        assert notifier.post(good) == 200
        assert wait_until(lambda: len(fake_collector.goal_keys()) == 2, 20)
        assert notifier.post(good) == 200  # Intercom's retry of the same notification
        other = ws.start_conversation(ws.add_contact(external_id="after"), t0)
        assert notifier.notify("conversation.user.created", "conversation", other) == 200
        assert wait_until(lambda: len(fake_collector.goal_keys()) == 4, 20)
    assert _gets(fake_intercom) == 2  # one read each for the two named conversations
    assert server.outcomes == {
        "bad_signature": 2,
        "unknown_topic": 1,
        "too_large": 1,
        "malformed": 2,
        "wrong_method": 1,
        "wrong_path": 1,
        "read": 2,
        "replayed": 1,
    }


def test_the_daemon_reads_a_hinted_conversation_between_its_polls(
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    tmp_path: Path,
) -> None:
    """`syncer run` with `[webhooks]`: one cycle at the start, the next ten minutes later;
    the goals of a conversation a signed notification names arrive in between, and the
    counter of its outcome is on /metrics."""
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    hooks, metrics = ports
    config = tmp_path / "syncer.toml"
    config.write_text(
        config_text(
            fake_intercom.url,
            tmp_path / "s.db",
            collector_url=fake_collector.url,
            sync="poll_interval = 600\n",
            extra=f'[webhooks]\nlisten = "127.0.0.1:{hooks}"\n'
            f'[metrics]\nlisten = "127.0.0.1:{metrics}"\n',
        )
    )
    daemon = Daemon(config, None, tmp_path / "daemon.log", INTERCOM_CLIENT_SECRET=SECRET)
    try:
        _hinted_between_polls(daemon, fake_intercom, fake_collector, hooks, metrics)
    finally:
        daemon.close()


def _hinted_between_polls(
    daemon: Daemon,
    fake_intercom: FakeIntercom,
    fake_collector: FakeCollector,
    hooks: int,
    metrics: int,
) -> None:
    assert wait_until(lambda: daemon.cycles() == 1, 30), daemon.path.read_text()
    ws = fake_intercom.workspace
    conv = ws.start_conversation(ws.add_contact(external_id="daemon-hint"), int(time.time()))
    with IntercomNotifier(f"http://127.0.0.1:{hooks}", SECRET) as notifier:
        assert notifier.notify("conversation.user.created", "conversation", conv) == 200
        assert wait_until(lambda: len(fake_collector.goal_keys()) == 2, 20)
    assert daemon.cycles() == 1
    scraped = httpx.get(f"http://127.0.0.1:{metrics}/metrics").text
    assert 'syncer_webhook_notifications_total{outcome="read"} 1.0' in scraped
    assert SECRET not in daemon.path.read_text()
    code, _ = daemon.terminate()
    assert code == 0


def test_before_it_reads_the_server_answers_and_reads_nothing() -> None:
    """Starting, or a standby waiting for the lease: a signed notification is answered 200
    and queued nowhere, so nothing old is read when the instance becomes active."""
    settings = WebhookSettings("127.0.0.1:0", PATH, "INTERCOM_CLIENT_SECRET", SECRET)
    with (
        webhooks.bind(settings) as server,
        IntercomNotifier(f"http://127.0.0.1:{server.port}", SECRET) as notifier,
    ):
        assert notifier.notify("conversation.user.created", "conversation", "1") == 200
        assert notifier.post(b"{}", signature="sha1=00") == 401
        assert server.hints.take() == []
    assert server.outcomes == {"standby": 1, "bad_signature": 1}
