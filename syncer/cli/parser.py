"""The command line's grammar: commands, options and their help."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from syncer import __version__, kinds
from syncer import config as config_mod
from syncer.cli import commands
from syncer.cli.console import EXIT_USAGE
from syncer.timeparse import DAY

EPILOG = (
    "Exit status: 0 done, 1 runtime failure, 2 usage or configuration error, 130 interrupted. "
    "The global options (--config, --log-level, --log-format) go before or after COMMAND."
)


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line, the way every other usage error does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"syncer: {message} (see `syncer --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="syncer",
        description=(
            "Poll Intercom and deliver support activity to the ABsmartly Collector as goal "
            f"events. Goal kinds: {_kinds()}."
        ),
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"syncer {__version__}")
    _global_options(parser)
    parser.set_defaults(config=None, log_level="info", log_format="text")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subcommands.required = True

    _sync(subcommands)
    _status(subcommands)
    _check(subcommands)
    _demo(subcommands)
    _run(subcommands)
    _outbox(subcommands)
    _parked(subcommands)
    _forget(subcommands)
    _spread_global_options(parser)
    return parser


def _sync(subcommands: argparse._SubParsersAction[_Parser]) -> None:
    sync = subcommands.add_parser(
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
    sync.add_argument(
        "--publish-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="give up on an unreachable Collector after this long and exit 1; what waits "
        "is kept for the next run (default: sync.publish_timeout, 300)",
    )
    sync.set_defaults(handler=commands.cmd_sync)


def _status(subcommands: argparse._SubParsersAction[_Parser]) -> None:
    status = subcommands.add_parser(
        "status",
        help="show cursors, outbox counts and the last error",
        description="Show each scan's cursor and lag, outbox counts by status, why events "
        "are unattributed, and the last error. Safe to run beside a running daemon.",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=commands.cmd_status)


def _check(subcommands: argparse._SubParsersAction[_Parser]) -> None:
    check = subcommands.add_parser(
        "check",
        help="validate the config and try both credentials",
        description="Validate the config, reach Intercom (GET /me) and the Collector with the "
        "configured credentials, and say what works and what does not. Exit 0 only when all "
        "is well, 1 when a check failed, 2 when the config itself is wrong.",
    )
    check.add_argument(
        "--probe",
        action="store_true",
        help="also test what the syncer assumes of Intercom against this workspace, read-only "
        "(a few dozen calls; see docs/intercom-assumptions.md): each assumption confirmed, "
        "contradicted (exit 1) or not testable here",
    )
    check.set_defaults(handler=commands.cmd_check)


def _demo(subcommands: argparse._SubParsersAction[_Parser]) -> None:
    demo = subcommands.add_parser(
        "demo",
        help="try it with no config and no accounts, against fakes on 127.0.0.1",
        description="Start a fake Intercom (a generated workspace) and a fake Collector on "
        "127.0.0.1, run a real catch-up through the production code path, and print per goal "
        "what was sent, and what its filter kept back and why. Needs no config, token or "
        "network. With --config FILE, the file's own units and goals (options and `where` "
        "filters) run against the demo workspace instead of the demo's, to try them before "
        "a real workspace; its credentials, endpoints, database, metrics and webhooks are "
        "ignored (the demo says which it set). $SYNCER_CONFIG is not read here.",
    )
    demo.add_argument(
        "--conversations",
        type=_count(10, 20_000),
        default=300,
        help="workspace size, 10 to 20000 (300)",
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="keep the demo's folder (its config and state database) afterwards, to explore "
        "with `syncer --config FOLDER/syncer.toml status` or `outbox list`",
    )
    demo.set_defaults(handler=commands.cmd_demo)


def _run(subcommands: argparse._SubParsersAction[_Parser]) -> None:
    run = subcommands.add_parser(
        "run",
        help="the daemon: poll Intercom and deliver, until stopped",
        description="Apply migrations, check both credentials, then run a sync cycle every "
        "sync.poll_interval seconds. Speaks systemd's notify protocol (READY, WATCHDOG, STATUS, "
        "STOPPING). SIGTERM or SIGINT stops it between pages, exit 0. A refused credential or "
        "an unusable database stops it with exit 1; any other failed cycle is logged and "
        "retried by the next.",
    )
    run.add_argument(
        "--once",
        action="store_true",
        help="run one cycle and exit, for cron or a systemd timer: exit 0 when it read "
        "everything and delivery had no error, 1 otherwise (what waits stays in the outbox)",
    )
    run.set_defaults(handler=commands.cmd_run)


def _outbox(subcommands: argparse._SubParsersAction[_Parser]) -> None:
    box = subcommands.add_parser(
        "outbox",
        help="list, retry or re-resolve stored goal events",
        description="Goal events wait in the outbox until the Collector takes them. "
        "`dead` ones were rejected by the Collector; `unattributed` ones lack a unit field; "
        "`filtered` ones were rejected by their goal's `where` (kept, with the reason).",
    )
    actions = box.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    listing = actions.add_parser("list", help="list events by status, oldest first")
    listing.add_argument(
        "--status",
        choices=("pending", "sent", "dead", "unattributed", "filtered"),
        action="append",
        help="repeatable (default: dead and unattributed)",
    )
    listing.add_argument(
        "--limit", type=_count(1, 1_000_000), default=100, help="at most this many (default 100)"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=commands.cmd_outbox_list)
    retry = actions.add_parser("retry", help="put dead events back in the queue")
    retry.add_argument("keys", nargs="*", metavar="KEY", help="only these keys (default: all)")
    retry.set_defaults(handler=commands.cmd_outbox_retry)
    resolve = actions.add_parser(
        "resolve",
        help="re-resolve unattributed events with the current config and contacts",
        description="After fixing a unit mapping (or a contact in Intercom), recover the "
        "events that were stored as unattributed; recovered events are sent by the next sync. "
        "With --refilter, also check every event not yet sent against the goals' `where` as "
        "the config says now: filtered ones it admits are sent, pending ones it rejects are "
        "not. A goal added to the config gets past events from `syncer sync --since`.",
    )
    resolve.add_argument(
        "--refilter",
        action="store_true",
        help="re-evaluate the filters of pending, unattributed and filtered events",
    )
    resolve.set_defaults(handler=commands.cmd_outbox_resolve)


def _parked(subcommands: argparse._SubParsersAction[_Parser]) -> None:
    parked = subcommands.add_parser(
        "parked",
        help="list, retry or drop objects whose requests keep failing",
        description="An object whose request still fails after the retries (a conversation "
        "answering 500, a contact lookup that fails) is parked: the scan moves on without it "
        "and every daemon cycle and sync retries it, with a backoff from 1 minute to 1 hour. "
        "Once read, its events flow as usual.",
    )
    parked_actions = parked.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    parked_actions.required = True
    parked_list = parked_actions.add_parser("list", help="list parked objects and why")
    parked_list.add_argument("--json", action="store_true", help="one JSON object per line")
    parked_list.set_defaults(handler=commands.cmd_parked_list)
    parked_retry = parked_actions.add_parser(
        "retry", help="retry these objects (default: all) at the next cycle or sync"
    )
    parked_retry.add_argument("ids", nargs="*", metavar="ID", help="object ids")
    parked_retry.set_defaults(handler=commands.cmd_parked_retry)
    parked_drop = parked_actions.add_parser(
        "drop", help="give up on these objects: their events are never read"
    )
    parked_drop.add_argument("ids", nargs="+", metavar="ID", help="object ids")
    parked_drop.set_defaults(handler=commands.cmd_parked_drop)


def _forget(subcommands: argparse._SubParsersAction[_Parser]) -> None:
    forget = subcommands.add_parser(
        "forget",
        help="remove every trace of one contact from the state (an erasure request)",
        description="Remove one contact's personal data from the state database: the "
        "properties, units and stored sources of their goals, and their cached contact. Goals "
        "of theirs not yet sent are never sent. What deduplication needs (keys, times) stays, "
        "so no later catch-up sends their goals again. Works beside a running daemon. Says "
        "what it removed, or that the state holds nothing of that contact (never seen, or "
        "already forgotten): both exit 0.",
    )
    who = forget.add_mutually_exclusive_group(required=True)
    who.add_argument("--contact", metavar="ID", help="the Intercom contact id")
    who.add_argument("--email", metavar="EMAIL", help="the contact's email address")
    forget.set_defaults(handler=commands.cmd_forget)


def _kinds() -> str:
    """The goal kinds, as kinds.py declares them; the default goals are those of the kinds
    that are on unless a config says otherwise."""
    return "; ".join(
        f"{kind.name} ({kind.summary}{'' if kind.on else ', not among the default goals'})"
        for kind in kinds.KINDS
    )


def _global_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """--config, --log-level, --log-format; `default` SUPPRESS: absent unless given."""
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help=f"TOML config file (default: ${config_mod.CONFIG_ENV})",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default=default,
        help="default: info",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=default,
        help="json: one object per line, for log shippers (default: text)",
    )


def _spread_global_options(parser: argparse.ArgumentParser) -> None:
    """Every subcommand, nested ones too (`outbox list`), takes the global options, so they
    go before or after it (`syncer status --config x`). Given after, they win; absent there
    (SUPPRESS), the value from before the subcommand, or the default, stays."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _global_options(sub, default=argparse.SUPPRESS)
                sub.epilog = sub.epilog or EPILOG
                _spread_global_options(sub)


def _count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`."""

    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    return count


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= DAY:  # also refuses inf and nan
        raise argparse.ArgumentTypeError("must be more than 0 and at most 86400 seconds")
    return value
