"""``bot-db branch list|prune|reset``: the databases git branches have on the dev server.

Each works only where branch databases apply (a git checkout, the dev server
this checkout owns, ``BOT_DB_BRANCH_DATABASES`` not off); elsewhere it says why
in one line. The work is done in :mod:`bot_persistence.devdb.branches`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot_persistence.cli.output import Console
from bot_persistence.errors import ConfigurationError

if TYPE_CHECKING:
    from bot_persistence.devdb.branches import BranchTarget
    from bot_persistence.devdb.target import Target

__all__ = ["cmd_branch_list", "cmd_branch_prune", "cmd_branch_reset"]


def _branch(command: Target) -> BranchTarget:
    """The command's branch, or the one line saying why there are no branch databases here."""
    from bot_persistence.devdb import branches

    if command.branch is not None:
        return command.branch
    settings = command.settings
    if not settings.branch_databases:
        why = "BOT_DB_BRANCH_DATABASES is false"
    elif not branches.applies(settings):
        why = "the server is not this checkout's own (DATABASE_URL, external or production)"
    else:
        why = "this is not a git checkout with a commit"
    raise ConfigurationError(f"there are no branch databases here: {why}; one database is used")


def cmd_branch_list(args: argparse.Namespace, command: Target, out: Console) -> int:
    """List the branch databases: branch, database, revision, size, last used (--json)."""
    from bot_persistence.devdb import branch_databases

    _branch(command)
    entries = branch_databases.list_databases(command)
    disk = branch_databases.disk_use(command)
    if args.json:
        out.json({"branches": [entry.as_dict() for entry in entries], "disk": disk.as_dict()})
        return 0
    out.line(
        out.paint(
            f"  {'branch':<28} {'database':<28} {'revision':<14} {'size':>9}  "
            f"{'last used':<21} state",
            "dim",
        )
    )
    for entry in entries:
        used = entry.last_used.strftime("%Y-%m-%d %H:%M UTC") if entry.last_used else "unknown"
        mark = out.paint("*", "green") if entry.state == "current" else " "
        out.line(
            f"{mark} {entry.branch[:28]:<28} {entry.database:<28} "
            f"{entry.revision or 'base':<14} {entry.size:>9}  {used:<21} {entry.state}"
        )
    out.field("disk", disk.describe())
    if branch_databases.prunable(entries):
        out.line(
            out.paint(
                "`bot-db branch prune` drops those merged, gone or detached that nothing holds.",
                "dim",
            )
        )
    return 0


def cmd_branch_prune(args: argparse.Namespace, command: Target, out: Console) -> int:
    """Drop the databases of deleted or merged branches and old detached commits (guarded).

    Never one that a working tree, a session or an uncommitted migration holds
    (:mod:`bot_persistence.devdb.pruning`); every candidate is listed with the
    reason it goes or stays before the question.
    """
    from bot_persistence.devdb import branch_databases, guards, pruning

    target = _branch(command)
    guards.guard_destructive(target.base, action="drop branch databases", force=args.force)
    candidates = branch_databases.prunable(branch_databases.list_databases(command))
    connected = pruning.sessions(command, [entry.database for entry in candidates])
    verdicts = {v.database: v for v in pruning.decide(target, candidates, connected)}
    doomed = [entry for entry in candidates if verdicts[entry.database].drop]
    snapshots = pruning.snapshots_of(command, [entry.database for entry in doomed])
    for entry in candidates:
        verdict = verdicts[entry.database]
        what = "drop" if verdict.drop else "keep"
        out.line(
            f"  {entry.branch[:40]:<40} {entry.database:<28} {entry.size:>9}  {what}: {verdict.why}"
        )
        for name in snapshots.get(entry.database, []):
            out.line(f"  {'':<40} and its snapshot {name}")
    kept = [{"database": v.database, "why": v.why} for v in verdicts.values() if not v.drop]
    if not doomed:
        if args.json:
            out.json({"dropped": [], "kept": kept, "freed_mb": 0.0})
        out.ok("nothing to prune: every branch database belongs to live work")
        return 0
    count = sum(len(names) for names in snapshots.values())
    along = f" and {count} snapshot(s) of them" if count else ""
    guards.confirm(
        f"Drop these {len(doomed)} branch database(s){along}?", yes=args.yes, stdin=args.stdin
    )
    dropped, busy = pruning.prune(command, [entry.database for entry in doomed])
    for database in busy:
        out.line(f"  kept {database}: a session connected to it since")
    gone = [entry for entry in doomed if entry.database in dropped]
    freed = sum(entry.size_bytes for entry in gone) / 1_000_000
    if args.json:
        report = [
            {
                **entry.as_dict(),
                "why": verdicts[entry.database].why,
                "snapshots": snapshots[entry.database],
            }
            for entry in gone
        ]
        kept += [
            {"database": database, "why": "a session connected to it since"} for database in busy
        ]
        out.json({"dropped": report, "kept": kept, "freed_mb": round(freed, 1)})
    out.ok(f"dropped {len(gone)} branch database(s){along}, {freed:.1f} MB")
    return 0


def cmd_branch_reset(args: argparse.Namespace, command: Target, out: Console) -> int:
    """Copy this branch's database from its parent's again, then migrate it (guarded)."""
    from bot_persistence import devdb
    from bot_persistence.devdb import guards

    target = _branch(command)
    if target.is_default:
        raise ConfigurationError(
            f"{target.label!r} is the default branch: its database {target.database!r} has no "
            "parent to copy; `bot-db reset` rebuilds it from migrations and seeds"
        )
    guards.guard_destructive(target.base, action="reset the branch database", force=args.force)
    guards.confirm(
        f"Drop {target.database!r} (branch {target.label}) and copy it from its parent again?",
        yes=args.yes,
        stdin=args.stdin,
    )
    ensured, report = devdb.reset_branch(command, backend=args.backend, step=out.step)
    if args.json:
        out.json(
            {
                "branch": target.label,
                "database": target.database,
                "copy": ensured.describe(target.label),
                "migration": {"before": report.migration.before, "after": report.migration.after},
                "elapsed": round(report.elapsed, 3),
            }
        )
    out.ok(ensured.describe(target.label))
    out.ok(f"reset {target.database!r}: at {report.migration.after} in {report.elapsed:.2f}s")
    return 0
