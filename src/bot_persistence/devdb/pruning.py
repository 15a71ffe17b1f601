"""``bot-db branch prune``: what may be dropped, decided from git's live state and who is connected.

Never from a label the tool wrote itself. A branch database's comment (whose
it is, at which commit) is lost by a ``snapshot restore`` of another version
or a database made by hand, and a label that can be lost cannot decide what
is dropped. So every database is kept while any of these holds, each asked
afresh:

- a working tree's ``HEAD`` maps to it: its branch's database, or the
  database of the commit a detached ``HEAD`` is at (every ``git worktree``,
  this one included, and one whose folder is gone until ``git worktree prune``);
- it holds a revision no commit in the repository has: a migration file
  that was never committed (it follows ``git switch`` and leaves no trace in
  git), whose only copy of the schema and rows is that database;
- a session is connected to it: the bot, an editor, a test run. Asked again
  right before each drop, under the branch lock: a session that connected
  after the question keeps its database.

What is left is dropped only when its branch is gone (deleted), merged into
the default branch, or a detached commit no tree is at; each comes with the
reason, which ``branch prune`` prints before it asks. A dropped database's
snapshots (``<database>__snap_<name>``) go with it: nothing lists or restores
them once their database is gone.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import psycopg

from bot_persistence.devdb import git
from bot_persistence.devdb.branch_databases import branch_lock
from bot_persistence.devdb.branches import BranchTarget, live_databases
from bot_persistence.devdb.target import Target
from bot_persistence.provision.databases import drop_database

__all__ = ["Listed", "Verdict", "decide", "prune", "sessions", "snapshots_of"]

#: Seconds a session that is closing may take to leave pg_stat_activity before it counts.
_SETTLE = 1.0
_SNAPSHOT = "__snap_"


class Listed(Protocol):
    """What ``branch list`` knows of one branch database: its name, label, state, revision."""

    @property
    def database(self) -> str: ...
    @property
    def branch(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def revision(self) -> str | None: ...


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether ``prune`` drops ``database``, and why, in a few words."""

    database: str
    drop: bool
    why: str


_DROPPED_WHY = {
    "gone": "its branch {branch!r} was deleted",
    "merged": "{branch!r} is merged into {default!r} and checked out nowhere",
    "detached": "{branch}, which no working tree is at",
}


def decide(
    target: BranchTarget, entries: Sequence[Listed], connected: Mapping[str, int]
) -> list[Verdict]:
    """A verdict for every entry, kept (and why) or dropped (and why), in their order.

    ``connected`` counts the sessions on each database now (:func:`sessions`).
    """
    live = live_databases(target)
    held: dict[str, bool] = {}
    verdicts = []
    for entry in entries:
        why = _kept_because(target, entry, live, connected, held)
        if why is not None:
            verdicts.append(Verdict(entry.database, False, why))
            continue
        template = _DROPPED_WHY[entry.state]
        default = target.default or "the default branch"
        verdicts.append(
            Verdict(entry.database, True, template.format(branch=entry.branch, default=default))
        )
    return verdicts


def _kept_because(
    target: BranchTarget,
    entry: Listed,
    live: Mapping[str, str],
    connected: Mapping[str, int],
    held: dict[str, bool],
) -> str | None:
    if entry.database in (target.base.database, target.database):
        return "the configured database" if entry.database == target.base.database else "this one"
    if entry.database in live:
        return live[entry.database]
    if connected.get(entry.database, 0):
        return f"{connected[entry.database]} session(s) connected to it"
    if entry.revision is not None:
        if entry.revision not in held:
            held[entry.revision] = git.revision_origin(target.root, entry.revision) is not None
        if not held[entry.revision]:
            return (
                f"it holds revision {entry.revision}, which no commit has (a migration never "
                "committed): commit its file, or `bot-db snapshot save` it"
            )
    if entry.state not in _DROPPED_WHY:
        return f"{entry.branch!r} has commits of its own"
    return None


def _count(conn: psycopg.Connection[Any], databases: Sequence[str]) -> dict[str, int]:
    rows = conn.execute(
        "SELECT datname, count(*) FROM pg_stat_activity "
        "WHERE datname = ANY(%(names)s) AND pid <> pg_backend_pid() GROUP BY datname",
        {"names": list(databases)},
    ).fetchall()
    return {str(name): int(count) for name, count in rows}


def sessions(command: Target, databases: Sequence[str]) -> dict[str, int]:
    """How many sessions are connected to each of ``databases``.

    A session that is closing (this command's own, just used to read a
    revision) leaves pg_stat_activity a moment after its client let go: it is
    waited for, boundedly, so it does not count as someone connected.
    """
    conn = command.admin()
    deadline = time.monotonic() + _SETTLE
    found = _count(conn, databases)
    while found and time.monotonic() < deadline:
        time.sleep(0.02)  # the poll interval of a condition bounded by the deadline
        found = _count(conn, databases)
    return found


def snapshots_of(command: Target, databases: Sequence[str]) -> dict[str, list[str]]:
    """The snapshots of each of ``databases``: their names, oldest name first."""
    rows = command.admin().execute("SELECT datname FROM pg_database ORDER BY datname").fetchall()
    found: dict[str, list[str]] = {database: [] for database in databases}
    for (name,) in rows:
        database, separator, snapshot = str(name).partition(_SNAPSHOT)
        if separator and database in found:
            found[database].append(snapshot)
    return found


def prune(command: Target, databases: Sequence[str]) -> tuple[list[str], list[str]]:
    """Drop ``databases`` and their snapshots, under the branch lock; (dropped, kept).

    A database someone connected to since the verdict is kept, not taken from them.
    """
    conn = command.admin(wait=True)
    dropped: list[str] = []
    kept: list[str] = []
    snapshots = snapshots_of(command, databases)
    with branch_lock(conn):
        for database in databases:
            if _count(conn, [database]):
                kept.append(database)
                continue
            for snapshot in snapshots[database]:
                drop_database(conn, f"{database}{_SNAPSHOT}{snapshot}")
            drop_database(conn, database)
            dropped.append(database)
    return dropped, kept
