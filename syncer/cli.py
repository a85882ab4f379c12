"""The `syncer` command: a thin shell over the pipeline, the publisher and the daemon.

Exit status: 0 done, 1 a runtime failure (Intercom or the Collector unreachable, a credential
refused, the database unusable), 2 a usage or configuration error, 130 interrupted.

Whatever happens, a command ends with at most one line on stderr that says why: no
traceback, no secret, nothing more from threads still winding down.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO, cast

from syncer import __version__, words
from syncer import config as config_mod
from syncer.errors import ConfigError, OutputError, ReaderGone, SyncerError
from syncer.logs import RedactSecrets
from syncer.logs import setup as setup_logging
from syncer.timeparse import shown, to_epoch

if TYPE_CHECKING:
    from syncer.store.store import Store

log = logging.getLogger("syncer")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EPILOG = (
    "Exit status: 0 done, 1 runtime failure, 2 usage or configuration error, 130 interrupted. "
    "The global options (--config, --log-level, --log-format) go before or after COMMAND."
)


class _Output:
    """stdout for one command: a failed write is an OutputError, met like any other error;
    a reader that went away stays a BrokenPipeError, met quietly."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write the output ({exc.strerror or exc})") from None

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write the output ({exc.strerror or exc})") from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@dataclass
class _Session:
    """One `main` call: whether it is the process itself (the `syncer` script, `python -m
    syncer`), which may rearrange its signals and standard streams on the way out, and what
    masks secrets in the lines it prints."""

    process: bool = False
    redactor: RedactSecrets = field(default_factory=lambda: RedactSecrets(()))
    reader_gone: threading.Event = field(default_factory=threading.Event)


_session = _Session()


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
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"syncer {__version__}")
    _global_options(parser)
    parser.set_defaults(config=None, log_level="info", log_format="text")
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
    listing.set_defaults(handler=cmd_outbox_list)
    retry = actions.add_parser("retry", help="put dead events back in the queue")
    retry.add_argument("keys", nargs="*", metavar="KEY", help="only these keys (default: all)")
    retry.set_defaults(handler=cmd_outbox_retry)
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
        "so no later catch-up sends their goals again. Works beside a running daemon. Says "
        "what it removed, or that the state holds nothing of that contact (never seen, or "
        "already forgotten): both exit 0.",
    )
    who = forget.add_mutually_exclusive_group(required=True)
    who.add_argument("--contact", metavar="ID", help="the Intercom contact id")
    who.add_argument("--email", metavar="EMAIL", help="the contact's email address")
    forget.set_defaults(handler=cmd_forget)
    _spread_global_options(parser)
    return parser


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
    if not 0 < value <= 86_400:  # also refuses inf and nan
        raise argparse.ArgumentTypeError("must be more than 0 and at most 86400 seconds")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status. `argv` None: this is the process itself."""
    global _session
    _session = session = _Session(process=argv is None)
    args = build_parser().parse_args(argv)
    session.redactor = setup_logging(args.log_level, args.log_format)
    if args.command == "demo" and args.log_level == "info":
        # The demo's table is the point.
        session.redactor = setup_logging("warning", args.log_format)
    handler: Callable[[argparse.Namespace], int] = args.handler
    stdout = sys.stdout
    try:
        _check_arguments(args)
        if stdout is None and args.command != "run":
            raise SyncerError("standard output is closed: nowhere to write to; nothing was done")
        if stdout is not None:
            sys.stdout = cast(TextIO, _Output(stdout))
        code = handler(args)
        sys.stdout.flush()  # here, where a closed pipe can still be met quietly
        return code
    except (ReaderGone, BrokenPipeError):
        return _reader_went_away()
    except SyncerError as exc:
        if session.reader_gone.is_set():
            return _reader_went_away()
        if isinstance(exc, OutputError):
            _silence_stdout()  # or Python says it again, flushing stdout at exit
        _say(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        if session.reader_gone.is_set():  # the stop a gone reader asked for
            return _reader_went_away()
        return _interrupted()
    except Exception as exc:  # whatever it is, one line: never a traceback
        if session.reader_gone.is_set():
            return _reader_went_away()
        if _interrupted_by(exc):
            return _interrupted()
        log.debug("unexpected error", exc_info=True)
        _say(
            f"unexpected error: {type(exc).__name__}: {str(exc)[:300]} "
            "(`--log-level debug` shows where; please report it)"
        )
        return EXIT_FAILURE
    finally:
        if isinstance(sys.stdout, _Output):
            sys.stdout = stdout


def _check_arguments(args: argparse.Namespace) -> None:
    """Text from the command line that is not UTF-8 (`--since $'\\xff'`) is refused here,
    naming its option, not later by whatever it reaches first (the database)."""
    names = {"keys": "KEY", "ids": "ID"}
    for dest, value in vars(args).items():
        if dest == "config":  # a file name: any bytes are fine
            continue
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and not _is_utf8(text):
                name = names.get(dest, "--" + dest.replace("_", "-"))
                raise ConfigError(
                    f"{name}: {shown(text)} is not valid UTF-8 text (check the terminal's or "
                    "the script's encoding)"
                )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return True


def _say(text: str) -> None:
    """One line on stderr, secrets masked."""
    line = " ".join(_session.redactor.redact(text).split("\n"))
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr closed or full
        print(f"syncer: {line}", file=sys.stderr, flush=True)


def _interrupted() -> int:
    _mute()
    _say("interrupted; what was stored is kept")
    if _session.process:
        # A second Ctrl-C, while threads wind down, ends the process at once and quietly.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return EXIT_INTERRUPTED


def _interrupted_by(exc: BaseException) -> bool:
    """An error met while unwinding from Ctrl-C (a resource closed under a thread)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__context__
    return False


def _reader_went_away() -> int:
    """The reader of stdout went away (`syncer status | head -2`): end quietly with 0, as
    Unix tools do. Python would print an error flushing stdout at exit: point it at
    /dev/null. Threads still winding down say nothing more."""
    _session.reader_gone.set()
    _mute()
    _silence_stdout()
    return EXIT_OK


def _mute() -> None:
    _session.redactor.muted = True


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _load(args: argparse.Namespace, secrets: Sequence[str]) -> config_mod.Config:
    config = config_mod.load(config_mod.config_path(args.config), secrets=secrets)
    _session.redactor = setup_logging(
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
    """One dry-run line, flushed: a reader that went away is met here, in the scan that
    printed, which then stops (and, in the process, the whole dry run)."""
    from syncer.store.outbox import event_key

    if _session.reader_gone.is_set():
        raise ReaderGone
    line = {
        "key": goal.key,
        "event": event_key(goal.key, goal.name),  # an event's goals share it
        "name": goal.name,
        "achievedAt": goal.achieved_at,
        "units": [{"type": t, "uid": u} for t, u in goal.units],
        "properties": dict(goal.properties),
    }
    try:
        sys.stdout.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _stop_for_reader()
        raise ReaderGone from None


def _stop_for_reader() -> None:
    """The first scan to meet a gone reader stops the others: as the process, by Ctrl-C to
    the main thread (which a catch-up answers by stopping its scans)."""
    if _session.reader_gone.is_set():
        return
    _reader_went_away()
    main_thread = threading.main_thread()
    if _session.process and threading.current_thread() is not main_thread:
        assert main_thread.ident is not None
        signal.pthread_kill(main_thread.ident, signal.SIGINT)


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
    statuses = args.status or ["dead", "unattributed"]
    # One row past the limit says whether the listing stopped there.
    rows = report.outbox_rows(config, statuses, args.limit + 1)
    code = _print_rows(rows[: args.limit], args.json, report.render_row, "(no events)")
    if len(rows) > args.limit:
        print(
            f"(stopped at --limit {args.limit}: more {'/'.join(statuses)} events are stored; "
            "`syncer status` counts them, a larger --limit lists them)",
            file=sys.stderr,
        )
    return code


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
    with _operating(args) as store:
        count = store.retry_dead(args.keys)
    print(f"{words.count(count, 'dead event')} pending again; the next sync or cycle sends them")
    return EXIT_OK


def cmd_outbox_resolve(args: argparse.Namespace) -> int:
    from syncer import recovery
    from syncer.runtime import RESOLVE, open_context
    from syncer.store import outbox

    config = _load(args, secrets=("intercom",))
    with open_context(config, RESOLVE) as opened:
        ctx = opened.ctx
        # Fresh lookups: the point is to see contacts as they are now.
        if args.refilter:
            before = ctx.store.counts()
            recovered, still = recovery.reresolve_unattributed(
                ctx, fresh=True, statuses=outbox.OPEN
            )
            after = ctx.store.counts()
        else:
            recovered, still = recovery.reresolve_unattributed(ctx, fresh=True)
    if args.refilter:
        print(
            f"refiltered: {after[outbox.PENDING]} pending (was {before[outbox.PENDING]}), "
            f"{after[outbox.FILTERED]} filtered (was {before[outbox.FILTERED]}), "
            f"{after[outbox.UNATTRIBUTED]} unattributed (was {before[outbox.UNATTRIBUTED]})"
        )
        return EXIT_OK
    print(f"{words.count(recovered, 'event')} recovered (now pending), {still} still unattributed")
    return EXIT_OK


def cmd_parked_list(args: argparse.Namespace) -> int:
    from syncer import report

    rows = report.parked_rows(_load(args, secrets=()))
    return _print_rows(rows, args.json, report.render_parked, "(nothing parked)")


def cmd_parked_retry(args: argparse.Namespace) -> int:
    with _operating(args) as store:
        count = store.retry_parked(args.ids)
    print(f"{words.count(count, 'parked object')} to retry at the next cycle or sync")
    return EXIT_OK


def cmd_parked_drop(args: argparse.Namespace) -> int:
    with _operating(args) as store:
        count = store.drop_parked(args.ids)
    print(f"{words.count(count, 'parked object')} dropped; their events will not be read")
    return EXIT_OK


@contextlib.contextmanager
def _operating(args: argparse.Namespace) -> Iterator[Store]:
    """The state database for an operator's short command. No single-writer lock: a short
    transaction beside a running daemon is safe (the database serialises writers), and the
    operator should not have to stop the service for it. With the Intercom token at hand,
    the workspace it reads must be the state's, as for every command."""
    from syncer.runtime import OPERATOR, open_context

    with open_context(_load(args, secrets=()), OPERATOR) as opened:
        yield opened.store


def cmd_run(args: argparse.Namespace) -> int:
    from syncer import daemon, metrics

    config = _load(args, secrets=("intercom", "absmartly"))
    listen = config.metrics_listen if not args.once else None  # --once serves no metrics
    if listen is None:
        return daemon.run(config, once=args.once)
    # Before the database, Intercom or the Collector: a port that cannot be bound fails the
    # start at once. The daemon's `serve` takes this server.
    metrics.bind(listen)
    try:
        return daemon.run(config, once=args.once)
    finally:
        metrics.release(listen)  # if it stopped before serving


def cmd_forget(args: argparse.Namespace) -> int:
    with _operating(args) as store:
        goals, contacts = store.forget(args.contact, args.email)
    who = f"contact {args.contact}" if args.contact else f"email {args.email}"
    if not goals and not contacts:
        print(
            f"found nothing for {who}: the state holds no goal and no cached contact of "
            "theirs (never seen, or already forgotten); nothing to remove"
        )
        return EXIT_OK
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
    from pathlib import Path

    from syncer import demo

    # Only a --config given here: $SYNCER_CONFIG names the daemon's file (the container
    # image sets it), not goals to try.
    own = Path(args.config) if args.config else None
    result = demo.run(conversations=args.conversations, keep=args.keep, config=own)
    print(demo.render(result))
    return result.exit_code
