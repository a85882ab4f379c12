"""Binding a `host:port` the config names (`[metrics] listen`, `[webhooks] listen`): one
address lookup, one try per address family, one reading of what went wrong, in one line
naming the key: ConfigError for an address this machine does not have (exit 2),
SyncerError for a port in use or refused (exit 1)."""

from __future__ import annotations

import errno
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TypeVar

from syncer.errors import ConfigError, SyncerError

S = TypeVar("S", bound=ThreadingHTTPServer)


def split_listen(listen: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` (validated by the config) as a host and a port."""
    host, _, port = listen.rpartition(":")
    return host.removeprefix("[").removesuffix("]") or "127.0.0.1", int(port)


def bind_server(key: str, listen: str, server: type[S], handler: type[BaseHTTPRequestHandler]) -> S:
    """A `server` bound on `listen`, or the error that says why not, naming `key`."""
    host, port = split_listen(listen)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        why = exc.strerror if isinstance(exc, socket.gaierror) else "not a host name"
        raise ConfigError(f"{key}: cannot resolve {host!r} ({why})") from None
    failure: OSError | None = None
    for family, _, _, _, address in found:
        family_class: type[S] = type("Server", (server,), {"address_family": family})
        try:
            return family_class((str(address[0]), port), handler)
        except OSError as exc:
            failure = failure if exc.errno == errno.EAFNOSUPPORT and failure else exc
    assert failure is not None
    raise _bind_error(f"{key}: cannot listen on {listen}", failure)


def _bind_error(where: str, exc: OSError) -> SyncerError:
    if exc.errno == errno.EADDRINUSE:
        return SyncerError(f"{where}: the port is in use (another syncer?); free it or pick one")
    if exc.errno == errno.EACCES:
        return SyncerError(f"{where}: permission denied (a port below 1024 needs privileges)")
    if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
        return ConfigError(f"{where}: not an address of this machine")
    return SyncerError(f"{where}: {exc.strerror or exc}")
