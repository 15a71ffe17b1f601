"""``bot-db rehearse``: the pending revisions applied to a copy at scale, under the bot's load.

The work is :mod:`bot_persistence.devdb.rehearsal`; this module picks the
revisions, prints the progress and the verdict, and writes the JSON document
or the HTML report. The conventions every command follows are in
:mod:`bot_persistence.cli._commands`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot_persistence.cli._commands import check_ours, report_json
from bot_persistence.cli.output import Console

if TYPE_CHECKING:
    import psycopg

    from bot_persistence.devdb.rehearsal import RehearsalReport, RevisionReport
    from bot_persistence.devdb.target import Target
    from bot_persistence.settings import Settings

__all__ = ["cmd_rehearse", "rehearse_arguments"]

_log = logging.getLogger("bot_persistence.rehearsal")


def rehearse_arguments(sub: argparse.ArgumentParser) -> None:
    """The options of ``bot-db rehearse``."""
    sub.add_argument(
        "--from",
        dest="from_revision",
        metavar="REV",
        help="rehearse from this revision (default: the dev database's)",
    )
    sub.add_argument(
        "--from-git",
        metavar="REF",
        help="rehearse what this checkout adds over git REF (main): from REF's newest revision",
    )
    sub.add_argument(
        "--pg",
        type=int,
        metavar="MAJOR",
        help="on a throw-away PostgreSQL MAJOR instead of the dev server (with --from-git/--from)",
    )
    sub.add_argument(
        "--container",
        action="store_true",
        help="with --pg: a container where a Docker engine answers, as `roundtrip --container`",
    )
    sub.add_argument(
        "--scale",
        type=int,
        default=1,
        metavar="N",
        help="data as `bot-db seed --scale N` makes it (default 1: 100,000 playlist tracks)",
    )
    sub.add_argument(
        "--budget-ms",
        type=float,
        default=1000.0,
        metavar="MS",
        help="fail when a bot call waits on a revision longer than this (default 1000)",
    )
    sub.add_argument(
        "--report", type=Path, metavar="FILE.html", help="write the latency chart and table here"
    )
    sub.add_argument(
        "--force", action="store_true", help="rehearse on a non-local server (never production)"
    )


def _revision_line(out: Console, revision: RevisionReport, budget_ms: float) -> None:
    line = (
        f"{revision.revision}  {revision.message}  {revision.seconds:.2f}s  "
        f"waited on {revision.blocked_ms:,.0f} ms  p99 {revision.p99_ms:,.0f} ms"
    )
    (out.fail if revision.over(budget_ms) else out.ok)(line)
    locks = ", ".join(f"{mode} {table}" for mode, table in revision.locks) or "none seen"
    out.field("    locks", locks, width=14)
    if revision.rewritten:
        out.field(
            "    rewritten",
            ", ".join(f"{t} ({n:,} rows)" for t, n in revision.rewritten.items()),
            width=14,
        )
    if revision.longest_call:
        out.field("    longest", f"{revision.longest_call} {revision.longest_ms:,.0f} ms", width=14)
    for error in revision.errors[:3]:
        out.field("    bot error", error, width=14)
    if revision.failure:
        out.field("    failed", revision.failure, width=14)


def _ready_lines(out: Console, report: RehearsalReport) -> None:
    entries = report.rows.get("playlist_tracks", 0)
    out.ok(
        f"data      {report.database}: scale {report.scale}, {entries:,} playlist tracks "
        f"in {report.seed_seconds:.1f}s"
    )
    out.ok(f"baseline  bot p99 {report.baseline_p99_ms:,.1f} ms before the first revision")
    for error in report.baseline_errors[:3]:
        out.field("    bot error", f"{error} (before any revision: the code is newer)", width=14)


def _verdict(report: RehearsalReport) -> str:
    worst = report.worst
    if worst is None:
        return (
            f"rehearsal {len(report.revisions)} revision(s) kept every bot call within "
            f"{report.budget_ms:,.0f} ms"
        )
    name = f"revision {worst.revision} ({worst.message})" if worst.message else worst.revision
    if worst.failure is not None:
        return f"rehearsal {name} failed to apply: {worst.failure}"
    call = f"{worst.longest_call} took {worst.longest_ms:,.0f} ms" if worst.longest_call else ""
    if worst.blocked_ms > report.budget_ms:
        return (
            f"rehearsal {name} blocked the bot for {worst.blocked_ms:,.0f} ms (budget "
            f"{report.budget_ms:,.0f} ms): {call}; make it safe (docs/migrations.md, "
            '"Changes that keep the bot running")'
        )
    return f"rehearsal {name} made the bot's calls fail: {worst.errors[0]}"


def cmd_rehearse(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Rehearse the pending migrations on a copy at scale, under the bot's load."""
    from bot_persistence.devdb import guards, rehearsal
    from bot_persistence.errors import ConfigurationError
    from bot_persistence.schema_version import database_revision

    settings = target.settings
    guards.guard_seeding(settings, force=args.force)  # generated data: never production
    if args.scale < 1:
        raise ConfigurationError("--scale must be 1 or more")
    if args.from_revision and args.from_git:
        raise ConfigurationError("give --from or --from-git, not both")
    if args.pg is not None:
        from bot_persistence.provision.scratch import throwaway_server

        start = _start_from_git(args.from_git) if args.from_git else args.from_revision
        if not rehearsal.pending_steps(settings, start):
            return _rehearse(args, out, settings, None, start)  # says so; starts no server
        with contextlib.ExitStack() as stack:
            with out.step(f"server    starting a throw-away PostgreSQL {args.pg}"):
                server = stack.enter_context(
                    throwaway_server(
                        args.pg,
                        image=settings.postgres_image,
                        prefer_container=args.container,
                        may_pull=settings.may_pull_images,
                    )
                )
            out.field("server", server.source)
            return _rehearse(args, out, server.settings, None, start)
    check_ours(args, target)
    if args.from_git:
        start = _start_from_git(args.from_git)
    elif args.from_revision:
        start = args.from_revision
    else:
        start = database_revision(target.connection())
        if start is not None and not rehearsal.pending_steps(settings, start):
            start = _parent_of_head(out, settings, start)
    return _rehearse(args, out, settings, target.admin(), start)


def _parent_of_head(out: Console, settings: Settings, head: str) -> str:
    """Where to start when the dev database is at head already: the newest revision's parent.

    The usual order is write a revision, `bot-db migrate`, try it, then
    rehearse it: by then nothing is pending, and the revision worth
    rehearsing is the newest one.
    """
    from bot_persistence.migrations import runner

    parent = runner.script_directory(settings).get_revision(head).down_revision
    if not isinstance(parent, str):
        return head  # the first revision, or a merge: nothing single to rehearse
    out.field("start", f"the dev database is at head: rehearsing {head} from {parent} "
              "(--from REV to choose)")  # fmt: skip
    return parent


def _start_from_git(ref: str) -> str | None:
    """The newest revision in ``ref``'s alembic/versions: where this checkout's additions start."""
    import tempfile
    from pathlib import Path

    from bot_persistence.devdb import git
    from bot_persistence.errors import ConfigurationError
    from bot_persistence.project import checkout_root
    from bot_persistence.schema_version import single_head

    files = git.files_at(checkout_root(), ref, "alembic/versions")
    if files is None:
        raise ConfigurationError(
            f"git cannot show alembic/versions at {ref!r}: fetch it (`git fetch origin {ref}`) "
            "or name a commit this clone has"
        )
    with tempfile.TemporaryDirectory(prefix="bot-db-rehearse-") as folder:
        for name, text in files.items():
            if name.endswith(".py"):
                (Path(folder) / name).write_text(text, encoding="utf-8")
        return single_head(Path(folder))


def _rehearse(
    args: argparse.Namespace,
    out: Console,
    settings: Settings,
    admin: psycopg.Connection[Any] | None,
    start: str | None,
) -> int:
    from bot_persistence.connection import MAINTENANCE_DATABASE, connect
    from bot_persistence.devdb import rehearsal

    steps = rehearsal.pending_steps(settings, start)
    if start is None and steps:
        # Nothing to fill below the first revision: the tables come from it.
        start, steps = steps[0].revision, steps[1:]
    document: dict[str, object] = {
        "start": start,
        "pending": [step.revision for step in steps],
    }
    out.field("plan", f"{start or 'base'} -> {steps[-1].revision if steps else 'nothing'} "
              f"({len(steps)} revision{'s' if len(steps) != 1 else ''})")  # fmt: skip
    if not steps:
        report_json(args, out, {**document, "ok": True, "revisions": []})
        out.ok(f"rehearsal nothing pending: {start or 'base'} is the code's head")
        return 0

    def say(text: str) -> None:
        if out.live:
            _log.info(text)

    if not args.verbose:
        # The bot's slow-unit warnings are what the rehearsal measures and reports.
        logging.getLogger("bot_persistence.db").setLevel(logging.ERROR)
    own = admin is None
    admin = admin or connect(settings, database=MAINTENANCE_DATABASE)
    try:
        report = rehearsal.rehearse(
            settings,
            admin,
            steps,
            start=start,
            scale=args.scale,
            budget_ms=args.budget_ms,
            phase=out.step,
            say=say,
            on_revision=lambda revision: _revision_line(out, revision, args.budget_ms),
            on_ready=lambda ready: _ready_lines(out, ready),
        )
    finally:
        if own:
            admin.close()
    if args.report is not None:
        from bot_persistence.devdb import rehearsal_html

        rehearsal_html.write_report(report, args.report)
        out.ok(f"report    {args.report}")
    report_json(args, out, {**document, **report.as_dict()})
    (out.ok if report.ok else out.fail)(_verdict(report))
    return 0 if report.ok else 1
