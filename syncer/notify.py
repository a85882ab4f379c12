"""systemd's notify protocol in a few lines: datagrams to $NOTIFY_SOCKET, no dependency."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger("syncer.notify")


class Notifier:
    """Sends READY/WATCHDOG/STATUS/STOPPING to systemd; does nothing outside a notify unit."""

    def __init__(self, address: str | None = None) -> None:
        address = os.environ.get("NOTIFY_SOCKET") if address is None else address
        # An address starting with "@" is in the abstract namespace.
        self.address = "\0" + address[1:] if address and address.startswith("@") else address

    def send(self, *lines: str) -> None:
        if not self.address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(lines).encode("utf-8"), self.address)
        except OSError as exc:  # systemd gone or the socket unreachable: never fatal
            log.debug("notify failed: %s", exc)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")
