"""The container image's HEALTHCHECK: exit 0 while the daemon is well, 1 (saying why) if not.

Asks, in order:
1. `$SYNCER_HEALTHZ_URL`, if set;
2. else `/healthz` at the config's `[metrics] listen` (0.0.0.0 or :: asked on loopback);
3. else, with no metrics served, the state database, as `syncer status --json` reads it
   beside a running daemon: well while its last cycle ended within three poll intervals
   (plus a minute for a slow one), or while another instance holds the PostgreSQL lease
   (a standby). That is /healthz's own rule, so the answer does not depend on `[metrics]`.

The config is `$SYNCER_CONFIG` (the image sets /etc/syncer/config.toml). Standard library
only, and the image's own `python3 -m syncer`: it runs inside the image, not in the project's tests.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TIMEOUT = 4.0


def healthz(url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:  # noqa: S310 - loopback
            return answer.status == 200, answer.read().decode(errors="replace").strip()
    except urllib.error.HTTPError as failed:
        return False, f"{failed.code} {failed.read().decode(errors='replace').strip()}"
    except (OSError, ValueError) as exc:
        return False, f"{url}: {exc}"


def local_url(listen: str) -> str:
    """`[metrics] listen` as a URL of /healthz reachable from inside the container."""
    host, _, port = listen.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if host in ("", "0.0.0.0", "*"):  # noqa: S104 - every address: loopback is one of them
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/healthz"


def from_state(config_path: str, config: dict[str, Any]) -> tuple[bool, str]:
    sync = config.get("sync") or {}
    poll = float(sync.get("poll_interval", 10))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "syncer", "--config", config_path, "status", "--json"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"syncer status: {exc}"
    if done.returncode != 0:
        return False, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "status"
    summary = json.loads(done.stdout)
    active = summary.get("active")
    if active and socket.gethostname() not in str(active):
        return True, f"standby; active: {active}"
    cycle = summary.get("last_cycle") or {}
    at = cycle.get("at")
    if not isinstance(at, int | float):
        return False, "no cycle has ended yet"
    late = time.time() - at
    if late > 3 * poll + 60:
        return False, f"the last cycle ended {late:.0f} s ago"
    return True, f"active; last cycle {late:.0f} s ago"


def check() -> tuple[bool, str]:
    url = os.environ.get("SYNCER_HEALTHZ_URL")
    if url:
        return healthz(url)
    path = os.environ.get("SYNCER_CONFIG", "/etc/syncer/config.toml")
    try:
        config = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return False, f"{path}: {exc}"
    listen = (config.get("metrics") or {}).get("listen")
    if isinstance(listen, str) and listen:
        return healthz(local_url(listen))
    return from_state(path, config)


if __name__ == "__main__":
    well, why = check()
    print(why)
    sys.exit(0 if well else 1)
