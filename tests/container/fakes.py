"""The fake Intercom and fake Collector on 127.0.0.1, for the container test (run.sh).

    python tests/container/fakes.py FOLDER [--conversations N] [--latency S] [--postgres URL]

Writes into FOLDER, for the daemon in the container:
- config.toml: both fakes' URLs, [metrics] listen on a free port, SQLite state on the
  image's volume (/var/lib/syncer), reading from two days back;
- with --postgres: pg-a.toml and pg-b.toml, the same on that PostgreSQL database, each
  with a metrics port of its own: an active instance and a standby;
- env: INTERCOM_ACCESS_TOKEN and ABSMARTLY_API_KEY (for `docker run --env-file`);
- ports: `HEALTHZ_URL=...` (and HEALTHZ_PG_A, HEALTHZ_PG_B), for run.sh to source;
and keeps `received.json` up to date ({"goals": N, "distinct": D}: what the fake Collector
accepted, duplicates counted in `goals` only). Runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import socket
import threading
import time
from pathlib import Path

from syncer.testing.fake_collector import FakeCollector
from syncer.testing.fake_intercom import FakeIntercom
from syncer.testing.workspace import generate

TOKEN = "container-intercom-token-0123456789"
KEY = "container-collector-key-9876543210"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write(path: Path, text: str, mode: int = 0o644) -> None:
    """Atomically, so a reader polling the file never sees half of it."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.chmod(mode)
    partial.replace(path)


def config_text(
    intercom: str,
    collector: str,
    metrics_port: int,
    start: int,
    database: str = "sqlite:////var/lib/syncer/state.db",
) -> str:
    since = dt.datetime.fromtimestamp(start, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'[intercom]\nbase_url = "{intercom}"\n\n'
        f'[absmartly]\nendpoint = "{collector}"\napplication = "www"\n'
        'environment = "production"\n\n'
        '[[units]]\ntype = "user_id"\nfrom = "external_id"\n\n'
        f'[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n\n'
        f'[sync]\ndatabase = "{database}"\n'
        f'start = "{since}"\npoll_interval = 5\nsettle = 0\n'
        + ("lease_retry = 1\n" if database.startswith("postgresql") else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    parser.add_argument("--conversations", type=int, default=80)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per Intercom answer")
    parser.add_argument("--postgres", help="a postgresql+psycopg:// URL for pg-a/pg-b.toml")
    args = parser.parse_args()
    folder: Path = args.folder
    now = int(time.time())
    workspace = generate(
        seed=21, conversations=args.conversations, start=now - 2 * 86_400, end=now - 120
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with (
        FakeIntercom(workspace, token=TOKEN, latency=args.latency) as intercom,
        FakeCollector(api_key=KEY) as collector,
    ):
        start = now - 3 * 86_400
        ports = {"HEALTHZ_URL": free_port()}
        write(
            folder / "config.toml",
            config_text(intercom.url, collector.url, ports["HEALTHZ_URL"], start),
        )
        if args.postgres:
            for name in ("a", "b"):
                port = ports[f"HEALTHZ_PG_{name.upper()}"] = free_port()
                config = config_text(intercom.url, collector.url, port, start, args.postgres)
                write(folder / f"pg-{name}.toml", config)
        write(folder / "env", f"INTERCOM_ACCESS_TOKEN={TOKEN}\nABSMARTLY_API_KEY={KEY}\n", 0o600)
        urls = "".join(f"{k}=http://127.0.0.1:{v}/healthz\n" for k, v in ports.items())
        write(folder / "ports", urls)
        while True:
            keys = collector.goal_keys()
            received = {"goals": len(keys), "distinct": len(set(keys))}
            write(folder / "received.json", json.dumps(received) + "\n")
            if stop.wait(0.2):
                break


if __name__ == "__main__":
    main()
