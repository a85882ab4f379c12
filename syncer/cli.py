"""The `syncer` command: a thin shell over the pipeline, the publisher and the daemon.

Exit status: 0 done, 1 a runtime failure (Intercom or the Collector unreachable, a credential
refused, the database unusable), 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from syncer import __version__
from syncer import config as config_mod
from syncer.errors import SyncerError
from syncer.logs import setup as setup_logging
from syncer.timeparse import to_epoch

log = logging.getLogger("syncer")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line, the way every other usage error does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"syncer: {message} (see `syncer --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="syncer",
        description=(
            "Poll Intercom and deliver support activity (conversation started, conversation "
            "rated, user messaged, ticket created) to the ABsmartly Collector as goal events."
        ),
        epilog="Exit status: 0 done, 1 runtime failure, 2 usage or configuration error.",
    )
    parser.add_argument("--version", action="version", version=f"syncer {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help=f"TOML config file (default: ${config_mod.CONFIG_ENV})",
    )
    parser.add_argument(
        "--log-level", choices=("debug", "info", "warning", "error"), default="info"
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one object per line, for log shippers",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    sync = commands.add_parser(
        "sync",
        help="catch up a window of history once, then exit",
        description=(
            "Scan Intercom over [--since, --until], store every goal event in the outbox and "
            "deliver it. Re-running the same window sends nothing twice. A run that is "
            "interrupted resumes where it stopped when started again with the same --since."
        ),
    )
    sync.add_argument(
        "--since",
        required=True,
        metavar="TIME",
        help="start of the window: ISO 8601 date or time (UTC unless it says)",
    )
    sync.add_argument(
        "--until", metavar="TIME", help="end of the window (default: now, less the settle time)"
    )
    sync.add_argument(
        "--dry-run",
        action="store_true",
        help="print one JSON goal per line on stdout; write nothing, send nothing",
    )
    sync.set_defaults(handler=cmd_sync)

    status = commands.add_parser(
        "status",
        help="show cursors, outbox counts and the last error",
        description="Show each scan's cursor and lag, outbox counts by status, why events "
        "are unattributed, and the last error. Safe to run beside a running daemon.",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except SyncerError as exc:
        print(f"syncer: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("syncer: interrupted; what was stored is kept", file=sys.stderr)
        return 130


def _load(args: argparse.Namespace, secrets: Sequence[str]) -> config_mod.Config:
    config = config_mod.load(config_mod.config_path(args.config), secrets=secrets)
    setup_logging(
        args.log_level, args.log_format, (config.intercom.token, config.absmartly.api_key)
    )
    return config


def cmd_sync(args: argparse.Namespace) -> int:
    from syncer import catchup

    now = int(time.time())
    since = to_epoch(args.since, "--since", now=now)
    until = to_epoch(args.until, "--until", now=now) if args.until else None
    config = _load(args, secrets=("intercom",) if args.dry_run else ("intercom", "absmartly"))
    until = catchup.clamp_until(config, since, until, now)
    if args.dry_run:
        return catchup.dry_run(config, since, until, now, _print_goal)
    return catchup.sync(config, since, until, now)


def _print_goal(goal: Any) -> None:
    line = {
        "key": goal.key,
        "name": goal.name,
        "achievedAt": goal.achieved_at,
        "units": [{"type": t, "uid": u} for t, u in goal.units],
        "properties": dict(goal.properties),
    }
    sys.stdout.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")


def cmd_status(args: argparse.Namespace) -> int:
    from syncer import report

    config = _load(args, secrets=())
    summary = report.status(config, now=time.time())
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print(report.render(summary))
    return EXIT_OK
