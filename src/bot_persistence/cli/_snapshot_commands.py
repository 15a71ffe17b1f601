"""``bot-db snapshot save|restore|list|delete``: server-side copies of the dev database.

The conventions every command follows are in :mod:`bot_persistence.cli._commands`;
the work is done in :mod:`bot_persistence.devdb.snapshots`.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot_persistence.cli._commands import check_ours, report_json
from bot_persistence.cli.output import Console

if TYPE_CHECKING:
    from bot_persistence.devdb.target import Target

__all__ = [
    "cmd_snapshot_delete",
    "cmd_snapshot_list",
    "cmd_snapshot_restore",
    "cmd_snapshot_save",
]


def _show_sessions(target: Target, out: Console) -> int:
    """Say who else is connected to the dev database; how many."""
    from bot_persistence.devdb import snapshots

    sessions = snapshots.other_sessions(target)
    if sessions:
        out.line(f"{len(sessions)} other session(s) are connected to {target.database!r}:")
        for session in sessions:
            out.line(f"  {session.describe()}")
    return len(sessions)


def _guarded_copy(args: argparse.Namespace, target: Target, out: Console, *, action: str) -> int:
    """The checks before a copy to or from the dev database; how many others are connected.

    The name first (a usage error before any server is asked), then the
    production guard, then that the database is ours; the sessions a copy would
    end are shown.
    """
    from bot_persistence.devdb import guards, snapshots

    snapshots.check_name(args.name)
    guards.guard_destructive(target.settings, action=action, force=args.force)
    check_ours(args, target)
    return _show_sessions(target, out)


def cmd_snapshot_save(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Save the dev database as snapshot NAME (a server-side copy)."""
    from bot_persistence.devdb import guards, snapshots

    # A copy on a production server, and the sessions it would end, are not ours to make.
    others = _guarded_copy(args, target, out, action=f"snapshot {target.database}")
    if others:
        guards.confirm(f"End them to copy {target.database!r}?", yes=args.yes, stdin=args.stdin)
    snap = snapshots.save(target, args.name, end_sessions=bool(others))
    report_json(args, out, snap.as_dict())
    out.ok(f"saved snapshot {snap.name} of {target.database!r} ({snap.size})")
    return 0


def cmd_snapshot_restore(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Replace the dev database with snapshot NAME (guarded; the snapshot is kept)."""
    from bot_persistence.devdb import guards, snapshots

    others = _guarded_copy(args, target, out, action=f"restore snapshot {args.name}")
    ending = f", ending those {others} session(s)" if others else ""
    guards.confirm(
        f"Replace database {target.database!r} with snapshot {args.name!r}{ending}?",
        yes=args.yes,
        stdin=args.stdin,
    )
    snap = snapshots.restore(target, args.name, end_sessions=bool(others))
    report_json(args, out, {"database": target.database, "restored": snap.as_dict()})
    out.ok(f"restored {target.database!r} from snapshot {snap.name}")
    return 0


def cmd_snapshot_list(args: argparse.Namespace, target: Target, out: Console) -> int:
    """List the dev database's snapshots, oldest first (--json for machines)."""
    from bot_persistence.devdb import snapshots

    check_ours(args, target)
    found = snapshots.list_snapshots(target)
    if args.json:
        out.json([snap.as_dict() for snap in found])
        return 0
    if not found:
        out.line(f"no snapshots of {target.database!r}; save one with `bot-db snapshot save NAME`")
    for snap in found:
        created = snap.created.strftime("%Y-%m-%d %H:%M UTC") if snap.created else "unknown"
        out.line(f"{snap.name:<32} {created:<21} {snap.size:>9}")
    return 0


def cmd_snapshot_delete(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Delete snapshot NAME (guarded)."""
    from bot_persistence.devdb import guards, snapshots

    snapshots.check_name(args.name)  # a usage error before any server is asked
    guards.guard_destructive(
        target.settings, action=f"delete snapshot {args.name}", force=args.force
    )
    guards.confirm(f"Delete snapshot {args.name!r}?", yes=args.yes, stdin=args.stdin)
    check_ours(args, target)
    snapshots.delete(target, args.name)
    report_json(args, out, {"deleted": args.name})
    out.ok(f"deleted snapshot {args.name}")
    return 0
