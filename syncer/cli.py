"""The `syncer` command: a thin shell over the pipeline, the publisher and the daemon.

Exit status: 0 done, 1 a runtime failure (Intercom or the Collector unreachable, a credential
refused, the database unusable), 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from syncer import __version__, words
from syncer import config as config_mod
from syncer.errors import SyncerError
from syncer.logs import setup as setup_logging
from syncer.timeparse import to_epoch

if TYPE_CHECKING:
    from syncer.store.store import Store

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
    sync.add_argument(
        "--publish-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="give up on an unreachable Collector after this long and exit 1; what waits "
        "is kept for the next run (default: sync.publish_timeout, 300)",
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

    check = commands.add_parser(
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
    check.set_defaults(handler=cmd_check)

    demo = commands.add_parser(
        "demo",
        help="try it with no config and no accounts, against fakes on 127.0.0.1",
        description="Start a fake Intercom (a generated workspace) and a fake Collector on "
        "127.0.0.1, run a real catch-up through the production code path, and print what was "
        "delivered per goal. Needs no config, token or network.",
    )
    demo.add_argument(
        "--conversations",
        type=_count(10, 20_000),
        default=300,
        help="workspace size, 10 to 20000 (300)",
    )
    demo.add_argument(
        "--keep", action="store_true", help="keep the demo's folder (config, database) afterwards"
    )
    demo.set_defaults(handler=cmd_demo)

    run = commands.add_parser(
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
    run.set_defaults(handler=cmd_run)

    box = commands.add_parser(
        "outbox",
        help="list, retry or re-resolve stored goal events",
        description="Goal events wait in the outbox until the Collector takes them. "
        "`dead` ones were rejected by the Collector; `unattributed` ones lack a unit field.",
    )
    actions = box.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    actions.required = True
    listing = actions.add_parser("list", help="list events by status, oldest first")
    listing.add_argument(
        "--status",
        choices=("pending", "sent", "dead", "unattributed"),
        action="append",
        help="repeatable (default: dead and unattributed)",
    )
    listing.add_argument(
        "--limit", type=_count(1, 1_000_000), default=100, help="at most this many (default 100)"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=cmd_outbox_list)
    retry = actions.add_parser("retry", help="put dead events back in the queue")
    retry.add_argument("keys", nargs="*", metavar="KEY", help="only these keys (default: all)")
    retry.set_defaults(handler=cmd_outbox_retry)
    resolve = actions.add_parser(
        "resolve",
        help="re-resolve unattributed events with the current config and contacts",
        description="After fixing a unit mapping (or a contact in Intercom), recover the "
        "events that were stored as unattributed; recovered events are sent by the next sync.",
    )
    resolve.set_defaults(handler=cmd_outbox_resolve)

    parked = commands.add_parser(
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
    parked_list.set_defaults(handler=cmd_parked_list)
    parked_retry = parked_actions.add_parser(
        "retry", help="retry these objects (default: all) at the next cycle or sync"
    )
    parked_retry.add_argument("ids", nargs="*", metavar="ID", help="object ids")
    parked_retry.set_defaults(handler=cmd_parked_retry)
    parked_drop = parked_actions.add_parser(
        "drop", help="give up on these objects: their events are never read"
    )
    parked_drop.add_argument("ids", nargs="+", metavar="ID", help="object ids")
    parked_drop.set_defaults(handler=cmd_parked_drop)

    forget = commands.add_parser(
        "forget",
        help="remove every trace of one contact from the state (an erasure request)",
        description="Remove one contact's personal data from the state database: the "
        "properties, units and stored sources of their goals, and their cached contact. Goals "
        "of theirs not yet sent are never sent. What deduplication needs (keys, times) stays, "
        "so no later catch-up sends their goals again. Works beside a running daemon.",
    )
    who = forget.add_mutually_exclusive_group(required=True)
    who.add_argument("--contact", metavar="ID", help="the Intercom contact id")
    who.add_argument("--email", metavar="EMAIL", help="the contact's email address")
    forget.set_defaults(handler=cmd_forget)
    return parser


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
    if not 0 < value <= 86_400:  # also refuses inf and nan
        raise argparse.ArgumentTypeError("must be more than 0 and at most 86400 seconds")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    if args.command == "demo" and args.log_level == "info":
        setup_logging("warning", args.log_format)  # the demo's table is the point
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        code = handler(args)
        sys.stdout.flush()  # here, where a closed pipe can still be met quietly
        return code
    except SyncerError as exc:
        print(f"syncer: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("syncer: interrupted; what was stored is kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`syncer status | head -2`): end quietly, as Unix tools do.
        # Python would print an error flushing stdout at exit; point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _load(args: argparse.Namespace, secrets: Sequence[str]) -> config_mod.Config:
    config = config_mod.load(config_mod.config_path(args.config), secrets=secrets)
    setup_logging(
        args.log_level,
        args.log_format,
        (config.intercom.token, config.absmartly.api_key, config.sync.password),
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
    timeout = args.publish_timeout or config.sync.publish_timeout
    return catchup.sync(config, since, until, now, timeout)


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


def cmd_outbox_list(args: argparse.Namespace) -> int:
    from syncer import report

    config = _load(args, secrets=())
    rows = report.outbox_rows(config, args.status or ["dead", "unattributed"], args.limit)
    return _print_rows(rows, args.json, report.render_row, "(no events)")


def _print_rows(
    rows: list[dict[str, Any]], as_json: bool, render: Callable[[dict[str, Any]], str], none: str
) -> int:
    """A listing: one JSON object or one rendered line per row; `none` on stderr if empty."""
    for row in rows:
        print(json.dumps(row, ensure_ascii=False) if as_json else render(row))
    if not rows and not as_json:
        print(none, file=sys.stderr)
    return EXIT_OK


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    with _writing(_load(args, secrets=())) as store:
        count = store.retry_dead(args.keys)
    print(f"{words.count(count, 'dead event')} pending again; the next sync or cycle sends them")
    return EXIT_OK


def cmd_outbox_resolve(args: argparse.Namespace) -> int:
    from syncer import recovery
    from syncer.runtime import open_context

    config = _load(args, secrets=("intercom",))
    with open_context(config, lock=False) as ctx:
        # Fresh lookups: the point is to see contacts as they are now.
        recovered, still = recovery.reresolve_unattributed(ctx, fresh=True)
    print(f"{words.count(recovered, 'event')} recovered (now pending), {still} still unattributed")
    return EXIT_OK


def cmd_parked_list(args: argparse.Namespace) -> int:
    from syncer import report

    rows = report.parked_rows(_load(args, secrets=()))
    return _print_rows(rows, args.json, report.render_parked, "(nothing parked)")


def cmd_parked_retry(args: argparse.Namespace) -> int:
    with _writing(_load(args, secrets=())) as store:
        count = store.retry_parked(args.ids)
    print(f"{words.count(count, 'parked object')} to retry at the next cycle or sync")
    return EXIT_OK


def cmd_parked_drop(args: argparse.Namespace) -> int:
    with _writing(_load(args, secrets=())) as store:
        count = store.drop_parked(args.ids)
    print(f"{words.count(count, 'parked object')} dropped; their events will not be read")
    return EXIT_OK


def _writing(config: config_mod.Config) -> Store:
    """The state database for an operator's short command. No single-writer lock: a short
    transaction beside a running daemon is safe (the database serialises writers), and the
    operator should not have to stop the service for it."""
    from syncer.store.db import open_store

    return open_store(config.sync, lock=False)


def cmd_run(args: argparse.Namespace) -> int:
    from syncer import daemon

    return daemon.run(_load(args, secrets=("intercom", "absmartly")), once=args.once)


def cmd_forget(args: argparse.Namespace) -> int:
    with _writing(_load(args, secrets=())) as store:
        goals, contacts = store.forget(args.contact, args.email)
    print(
        f"forgot {words.count(len(contacts), 'contact')} ({', '.join(sorted(contacts)) or '-'}): "
        f"personal data removed from {words.count(goals, 'goal')}; cached contacts dropped"
    )
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from syncer.check import run_checks

    config = _load(args, secrets=("intercom", "absmartly"))
    failed = intercom_ok = False
    for finding in run_checks(config):
        print(finding.line(), flush=True)
        failed |= not finding.ok
        intercom_ok |= finding.what == "intercom" and finding.ok
    if args.probe and intercom_ok:
        from syncer import probe
        from syncer.intercom.client import IntercomClient

        print("\nprobes (read-only, against this workspace):", flush=True)
        with IntercomClient(config.intercom, attempts=2) as client:
            probed = probe.run(client, int(time.time()), config.sync.reconcile_window)
        for found in probed.findings:
            print(found.line(), flush=True)
        failed |= bool(probed.contradicted)
    return EXIT_FAILURE if failed else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from syncer import demo

    result = demo.run(conversations=args.conversations, keep=args.keep)
    print(demo.render(result))
    return result.exit_code
