"""systemd's notify protocol in a few lines: datagrams to $NOTIFY_SOCKET, no dependency."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable

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


def watchdog_seconds(environ: dict[str, str] | None = None) -> float | None:
    """systemd's watchdog interval for this process (`WatchdogSec=`), or None when off."""
    env = os.environ if environ is None else environ
    usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1_000_000


class Liveness:
    """Whether the daemon is healthy enough to pet the watchdog: idle between cycles, or in
    a cycle that made progress (a page, a checkpoint) within the watchdog interval.

    Pets come from a timer, so a healthy idle daemon is never killed however long its poll
    interval; a cycle stuck without progress stops them, and systemd restarts it.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self._busy = False
        self._last = clock()
        self._lock = threading.Lock()

    def cycle_started(self) -> None:
        with self._lock:
            self._busy, self._last = True, self.clock()

    def progressed(self) -> None:
        with self._lock:
            self._last = self.clock()

    def cycle_ended(self) -> None:
        with self._lock:
            self._busy, self._last = False, self.clock()

    def healthy(self) -> bool:
        with self._lock:
            return not self._busy or self.clock() - self._last < self.interval

    def pet_while(self, notifier: Notifier, stop: threading.Event) -> threading.Thread:
        """Send WATCHDOG=1 three times an interval while healthy, until `stop` is set."""

        def loop() -> None:
            while not stop.wait(self.interval / 3):
                if self.healthy():
                    notifier.watchdog()

        thread = threading.Thread(target=loop, name="watchdog", daemon=True)
        thread.start()
        return thread
