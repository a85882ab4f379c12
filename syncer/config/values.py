"""Reading one value of the config file: a table's keys, types and bounds, leftovers refused;
secrets from the environment; URLs, listen addresses and header text. Each problem is one
ConfigError line naming the key."""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from syncer.errors import ConfigError


class Table:
    """Reads one TOML table, remembering which keys were used so leftovers are errors."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a table, got {kind_of(data)}")
        self.data: dict[str, Any] = data
        self.where = where
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
        self.used.add(name)
        if name not in self.data:
            if default is ...:
                raise ConfigError(f"{self.key(name)}: missing (required)")
            return default
        value = self.data[name]
        expected = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in expected:
            raise ConfigError(f"{self.key(name)}: expected {names_of(expected)}, got a boolean")
        if not isinstance(value, expected):
            raise ConfigError(
                f"{self.key(name)}: expected {names_of(expected)}, got {kind_of(value)}"
            )
        return value

    def text(self, name: str, default: Any = ...) -> Any:
        value = self.get(name, str, default)
        if isinstance(value, str) and not value.strip():
            raise ConfigError(f"{self.key(name)}: must not be empty")
        return value

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.get(name, int, default)
        if value < minimum:
            raise ConfigError(f"{self.key(name)}: must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{self.key(name)}: must be at most {maximum}, got {value}")
        return int(value)

    def seconds(self, name: str, default: float, maximum: float = 600.0) -> float:
        """A finite number of seconds in (0, maximum]."""
        value = float(self.get(name, (int, float), default))
        if not math.isfinite(value) or not 0 < value <= maximum:
            raise ConfigError(
                f"{self.key(name)}: must be more than 0 and at most {maximum:g} seconds, "
                f"got {value:g}"
            )
        return value

    def declared(self, model: type, name: str) -> Any:
        """A number setting as its settings class declares it (`settings.bounded`): its key,
        default and bounds are written there only."""
        spec = next(f for f in dataclasses.fields(model) if f.name == name)
        meta = spec.metadata
        key = meta.get("key") or name
        default: Any = spec.default
        if isinstance(default, float):
            return self.seconds(key, default, meta["maximum"])
        return self.integer(key, int(default), int(meta["minimum"]), meta["maximum"])

    def finish(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used)) or "none"
            raise ConfigError(f"{self.key(unknown[0])}: unknown key (known here: {known})")


def kind_of(value: object) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def names_of(kinds: Iterable[type]) -> str:
    return " or ".join(kind_of(k()) if k is not float else "a number" for k in kinds)


def host_port(key: str, listen: str, example: int) -> None:
    """`host:port`, or `[v6]:port`, with a port in 1..65535 (`example`: the port the error
    line shows)."""
    host, _, port = listen.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if (
        not host.strip("[]")
        or not (port.isascii() and port.isdigit())
        or not 0 < int(port) < 65_536
        or not printable_ascii(host)
        or (":" in host and not bracketed)
    ):
        raise ConfigError(
            f"{key}: expected host:port (127.0.0.1:{example}, or [::1]:{example} for IPv6), "
            f"got {clipped(listen)!r}"
        )


def printable_ascii(text: str) -> bool:
    """What an HTTP header value may hold: printable ASCII, space included."""
    return all(" " <= ch <= "~" for ch in text)


def clipped(text: str, limit: int = 40) -> str:
    """A value for an error line: cut to `limit` characters."""
    return text if len(text) <= limit else text[:limit] + "…"


def header_text(
    table: Table, name: str, default: Any = ..., *, sent: str = "is sent as an HTTP header"
) -> str:
    """A value sent as an HTTP header (or an identifier the Collector keys on): printable
    ASCII, no space at either end."""
    value: str = table.text(name, default)
    if not printable_ascii(value) or value != value.strip():
        raise ConfigError(
            f"{table.key(name)}: {sent}, so it must be printable ASCII with no space at "
            f"either end, got {clipped(value)!r}"
        )
    return value


def secret_from_env(
    table: Table,
    name: str,
    default: str,
    env: Mapping[str, str],
    needed: bool,
    *,
    header: bool = True,
) -> tuple[str, str]:
    variable = table.text(name, default)
    if variable != variable.upper():
        # Most likely the secret pasted where its variable's name belongs: never echoed.
        raise ConfigError(
            f"{table.key(name)}: must name the environment variable that holds the secret, "
            f"in upper case (like {default or 'SYNCER_DB_PASSWORD'}); what is there looks "
            "like a secret itself, so it is not shown"
        )
    if not variable.replace("_", "").isalnum() or not variable.isascii():
        raise ConfigError(
            f"{table.key(name)}: {clipped(variable)!r} is not an environment variable name"
        )
    value = env.get(variable, "")
    if needed and not value.strip():
        raise ConfigError(f"{table.key(name)}: environment variable {variable} is not set")
    if needed and header and not printable_ascii(value.strip()):
        # Never the value: it is a secret.
        raise ConfigError(
            f"{table.key(name)}: the value of ${variable} holds a character an HTTP header "
            "cannot carry (only printable ASCII); export it again, without control "
            "characters or typographic quotes"
        )
    return variable, value.strip()


def url(table: Table, name: str, value: str) -> str:
    """An API address must be HTTPS, except on loopback where the fakes and tunnels live. It
    holds no credentials (they come from the environment), and an error never echoes them."""
    key = table.key(name)
    authority = value.partition("://")[2] if "://" in value else value
    for end in "/?#":
        authority = authority.split(end, 1)[0]
    if "@" in authority:
        raise ConfigError(
            f"{key}: holds a user name or password (user:password@); credentials come from "
            "the environment (the *_env keys), never the URL"
        )
    shown = clipped(value, 80)
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value):
        raise ConfigError(f"{key}: {shown!r} holds a space or a control character")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", "Port could not be cast to integer ..."
        raise ConfigError(f"{key}: {shown!r} is not a valid URL ({exc})") from None
    if port == 0:
        raise ConfigError(f"{key}: {shown!r}: the port must be 1 to 65535")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{key}: {shown!r} is not an http(s) URL")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(f"{table.key(name)}: must use https (plain http only for loopback)")
    return value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
