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
        out.line(out.paint("`bot-db branch prune` drops those merged, gone or detached.", "dim"))
    return 0


def cmd_branch_prune(args: argparse.Namespace, command: Target, out: Console) -> int:
    """Drop the databases of deleted or merged branches and old detached commits (guarded)."""
    from bot_persistence.devdb import branch_databases, guards

    target = _branch(command)
    guards.guard_destructive(target.base, action="drop branch databases", force=args.force)
    doomed = branch_databases.prunable(branch_databases.list_databases(command))
    if not doomed:
        if args.json:
            out.json({"dropped": [], "freed_mb": 0.0})
        out.ok("nothing to prune: every branch database belongs to a live branch")
        return 0
    for entry in doomed:
        out.line(f"  {entry.branch[:40]:<40} {entry.database:<28} {entry.size:>9}  {entry.state}")
    guards.confirm(
        f"Drop these {len(doomed)} branch database(s), ending their sessions?",
        yes=args.yes,
        stdin=args.stdin,
    )
    branch_databases.drop(command, [entry.database for entry in doomed])
    freed = sum(entry.size_bytes for entry in doomed) / 1_000_000
    if args.json:
        out.json({"dropped": [entry.as_dict() for entry in doomed], "freed_mb": round(freed, 1)})
    out.ok(f"dropped {len(doomed)} branch database(s), {freed:.1f} MB")
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
