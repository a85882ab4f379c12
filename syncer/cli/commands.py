"""What each command does: a thin shell over the pipeline, the publisher and the daemon."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from syncer import config as config_mod
from syncer import words
from syncer.cli import console
from syncer.cli.console import EXIT_FAILURE, EXIT_OK
from syncer.errors import ReaderGone
from syncer.logs import setup as setup_logging
from syncer.retries import INTERCOM_CHECK
from syncer.timeparse import to_epoch

if TYPE_CHECKING:
    from syncer.store.store import Store


def load(args: argparse.Namespace, secrets: Sequence[str]) -> config_mod.Config:
    config = config_mod.load(config_mod.config_path(args.config), secrets=secrets)
    console.session.redactor = setup_logging(args.log_level, args.log_format, config.secrets())
    return config


def cmd_sync(args: argparse.Namespace) -> int:
    from syncer import catchup

    now = int(time.time())
    since = to_epoch(args.since, "--since", now=now)
    until = to_epoch(args.until, "--until", now=now) if args.until else None
    config = load(args, secrets=("intercom",) if args.dry_run else ("intercom", "absmartly"))
    until = catchup.clamp_until(config, since, until, now)
    if args.dry_run:
        return catchup.dry_run(config, since, until, now, _print_goal)
    timeout = args.publish_timeout or config.sync.publish_timeout
    return catchup.sync(config, since, until, now, timeout)


def _print_goal(goal: Any) -> None:
    """One dry-run line, flushed: a reader that went away is met here, in the scan that
    printed, which then stops (and, in the process, the whole dry run)."""
    from syncer.store.outbox import event_key

    if console.session.reader_gone.is_set():
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
        console.stop_for_reader()
        raise ReaderGone from None


def cmd_status(args: argparse.Namespace) -> int:
    from syncer import report

    config = load(args, secrets=())
    summary = report.status(config, now=time.time())
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print(report.render(summary))
    return EXIT_OK


def cmd_outbox_list(args: argparse.Namespace) -> int:
    from syncer import report

    config = load(args, secrets=())
    statuses = args.status or ["dead", "unattributed"]
    # One row past the limit says whether the listing stopped there.
    rows = report.outbox_rows(config, statuses, args.limit + 1)
    code = console.print_rows(rows[: args.limit], args.json, report.render_row, "(no events)")
    if len(rows) > args.limit:
        print(
            f"(stopped at --limit {args.limit}: more {'/'.join(statuses)} events are stored; "
            "`syncer status` counts them, a larger --limit lists them)",
            file=sys.stderr,
        )
    return code


def cmd_outbox_retry(args: argparse.Namespace) -> int:
    with operating(args) as store:
        count = store.retry_dead(args.keys)
    print(f"{words.count(count, 'dead event')} pending again; the next sync or cycle sends them")
    return EXIT_OK


def cmd_outbox_resolve(args: argparse.Namespace) -> int:
    from syncer import recovery
    from syncer.runtime import RESOLVE, open_context
    from syncer.store import outbox

    config = load(args, secrets=("intercom",))
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

    rows = report.parked_rows(load(args, secrets=()))
    return console.print_rows(rows, args.json, report.render_parked, "(nothing parked)")


def cmd_parked_retry(args: argparse.Namespace) -> int:
    with operating(args) as store:
        count = store.retry_parked(args.ids)
    print(f"{words.count(count, 'parked object')} to retry at the next cycle or sync")
    return EXIT_OK


def cmd_parked_drop(args: argparse.Namespace) -> int:
    with operating(args) as store:
        count = store.drop_parked(args.ids)
    print(f"{words.count(count, 'parked object')} dropped; their events will not be read")
    return EXIT_OK


@contextlib.contextmanager
def operating(args: argparse.Namespace) -> Iterator[Store]:
    """The state database for an operator's short command. No single-writer lock: a short
    transaction beside a running daemon is safe (the database serialises writers), and the
    operator should not have to stop the service for it. With the Intercom token at hand,
    the workspace it reads must be the state's, as for every command."""
    from syncer.runtime import OPERATOR, open_context

    with open_context(load(args, secrets=()), OPERATOR) as opened:
        yield opened.store


def cmd_run(args: argparse.Namespace) -> int:
    from syncer import daemon, metrics

    config = load(args, secrets=("intercom", "absmartly"))
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
    with operating(args) as store:
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

    config = load(args, secrets=("intercom", "absmartly"))
    failed = intercom_ok = False
    for finding in run_checks(config):
        print(finding.line(), flush=True)
        failed |= not finding.ok
        intercom_ok |= finding.what == "intercom" and finding.ok
    if args.probe and intercom_ok:
        from syncer import probe
        from syncer.intercom.client import IntercomClient

        print("\nprobes (read-only, against this workspace):", flush=True)
        with IntercomClient(config.intercom, attempts=INTERCOM_CHECK.attempts) as client:
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
