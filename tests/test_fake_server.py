"""The fakes' shared HTTP server behaves as a real one towards clients that hang up."""

from __future__ import annotations

import socket
import struct

import pytest

from syncer.testing.server import Answer, FakeServer
from tests.conftest import wait_until


class Large(FakeServer):
    """Answers /large with more than socket buffers hold, anything else with a few bytes."""

    def respond(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        return 200, {}, b"x" * (8_000_000 if path == "/large" else 2)


def test_a_client_that_hangs_up_mid_answer_prints_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Tests run CLIs in the process that serves the fakes and assert on their stderr: a
    client that hangs up mid-answer (a timeout, a closed pool) must not print socketserver's
    traceback there. It is counted instead, and the server goes on serving."""
    with Large() as fake:
        port = int(fake.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as sock:
            # Linger 0: close with a reset, as a killed client does.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.sendall(b"GET /large HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(12).startswith(b"HTTP/1")
        assert wait_until(lambda: fake.hangups == 1, timeout=60)
        with socket.create_connection(("127.0.0.1", port)) as again:
            again.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := again.recv(4096):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"\r\n\r\nxx")
    assert fake.hangups == 1
    assert capsys.readouterr().err == ""
