"""``bot-db rehearse``: the pending revisions applied to a copy at scale, under the bot's load.

The work is :mod:`bot_persistence.devdb.rehearsal`; this module picks the
revisions, prints the progress and the verdict, and writes the JSON document
or the HTML report. The conventions every command follows are in
:mod:`bot_persistence.cli._commands`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bot_persistence.cli._commands import check_ours, report_json
from bot_persistence.cli.output import Console

if TYPE_CHECKING:
    from bot_persistence.devdb.rehearsal import RehearsalReport, RevisionReport
    from bot_persistence.devdb.target import Target

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
    check_ours(args, target)
    start = args.from_revision or database_revision(target.connection())
    steps = rehearsal.pending_steps(settings, start)
    document: dict[str, object] = {
        "start": start,
        "pending": [step.revision for step in steps],
    }
    out.field("plan", f"{start or 'base'} -> {steps[-1].revision if steps else 'nothing'} "
              f"({len(steps)} revision{'s' if len(steps) != 1 else ''})")  # fmt: skip
    if not steps:
        report_json(args, out, {**document, "ok": True, "revisions": []})
        out.ok("rehearsal nothing pending: the database is at head")
        return 0

    def say(text: str) -> None:
        if out.live:
            _log.info(text)

    report = rehearsal.rehearse(
        settings,
        target.admin(),
        steps,
        start=start,
        scale=args.scale,
        budget_ms=args.budget_ms,
        phase=out.step,
        say=say,
        on_revision=lambda revision: _revision_line(out, revision, args.budget_ms),
        on_ready=lambda ready: _ready_lines(out, ready),
    )
    if args.report is not None:
        from bot_persistence.devdb import rehearsal_html

        rehearsal_html.write_report(report, args.report)
        out.ok(f"report    {args.report}")
    report_json(args, out, {**document, **report.as_dict()})
    (out.ok if report.ok else out.fail)(_verdict(report))
    return 0 if report.ok else 1
