"""The part the fakes share: a real HTTP server on 127.0.0.1, in a thread."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Answer = tuple[int, dict[str, str], bytes]


class FakeServer:
    """Start, stop, and a request loop; subclasses say what to answer in `respond`."""

    base_path = ""

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self.connections = 0  # how many connections clients opened: keep-alive, pools
        self.hangups = 0  # how many answers went to a client that had hung up
        self._counting = threading.Lock()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}{self.base_path}"

    def start(self, port: int = 0) -> Self:
        self._server = _Server(("127.0.0.1", port), _handler(self))
        self._server.fake = self
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def respond(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer | None:
        """The answer to one request; None closes the connection without one."""
        raise NotImplementedError


class _Server(ThreadingHTTPServer):
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up mid-answer (a timeout, a test's process ending, a closed
        # pool) is what servers see every day; socketserver would print a traceback into
        # the stderr of whatever runs in this process, a CLI under test included.
        if isinstance(sys.exc_info()[1], ConnectionError):
            with self.fake._counting:
                self.fake.hangups += 1
            return
        super().handle_error(request, client_address)


def _handler(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: with Nagle on, the body waits ~40 ms for
        # the client's delayed ACK on every request.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            with fake._counting:
                fake.connections += 1

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            answer = fake.respond(self.command, self.path, headers, raw)
            if answer is None:
                self.close_connection = True
                return
            status, extra, data = answer
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

    return Handler
