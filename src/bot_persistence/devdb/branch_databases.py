"""Branch databases on the dev server: made from a parent's copy, listed, pruned, measured.

:mod:`bot_persistence.devdb.branches` says which database the checkout's
branch uses; this module does the server's side. Creating one is serialised by
an advisory lock, so concurrent ``up`` in two worktrees is safe. Who a database
belongs to, its parent and when it was last used are kept in the database's
comment; which branch a database serves is always recomputed from its name, so
a lost comment (a ``reset``, a snapshot restored) loses only the display of a
deleted branch's name. Creating and dropping are
:mod:`bot_persistence.provision.databases`'; copying with the sessions' account,
:mod:`bot_persistence.devdb.copies`'. Everything runs on the command's
:class:`~bot_persistence.devdb.target.Target`: the maintenance database's
connection for the server's side, the branch database's own for marking it used.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg

from bot_persistence.devdb import git
from bot_persistence.devdb.branches import BranchTarget, is_branch_database, live_databases
from bot_persistence.devdb.copies import copy_waiting
from bot_persistence.devdb.target import Target
from bot_persistence.errors import BotPersistenceError, DatabaseMissingError
from bot_persistence.project import versions_dir
from bot_persistence.provision.base import create_missing
from bot_persistence.provision.databases import (
    comment_on,
    create_database,
    database_exists,
    drop_database,
)
from bot_persistence.schema_version import database_revision, known_revisions

__all__ = [
    "BRANCH_LOCK_KEY",
    "COPY_WAIT",
    "BranchDatabase",
    "DiskUse",
    "Ensured",
    "branch_lock",
    "disk_use",
    "drop",
    "ensure",
    "list_databases",
    "prunable",
    "touch",
]

#: The advisory lock every process creating a branch database takes ("botbrnc" in ASCII).
BRANCH_LOCK_KEY = 0x626F7462726E63
#: Seconds a new branch waits for its parent's database to be free to copy.
COPY_WAIT = 10.0
_COMMENT_KEY = "bot_db_branch"
#: How a detached commit's database ends: ``__br_at-<7 hex>_<7 hex>``.
_DETACHED_NAME = re.compile(r"__br_at-([0-9a-f]{7})_[0-9a-f]{7}\Z")


@dataclasses.dataclass(frozen=True)
class Ensured:
    """What :func:`ensure` did: found the database, or made it (from ``parent``'s)."""

    database: str
    created: bool
    parent: str | None = None

    def describe(self, label: str) -> str:
        """One progress line."""
        if not self.created:
            return f"branch    {label}: its own database {self.database}"
        if self.parent is None:
            return f"branch    {label}: new database {self.database} (no parent database to copy)"
        return f"branch    {label}: new database {self.database}, copied from {self.parent}'s"


Admin = psycopg.Connection[Any]


@contextmanager
def branch_lock(conn: Admin) -> Iterator[None]:
    """The advisory lock, on the maintenance database (PostgreSQL keeps them per database)."""
    conn.execute("SELECT pg_advisory_lock(%(key)s)", {"key": BRANCH_LOCK_KEY})
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%(key)s)", {"key": BRANCH_LOCK_KEY})


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _comment(conn: Admin, database: str) -> dict[str, object]:
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %(n)s",
        {"n": database},
    ).fetchone()
    with suppress(ValueError, TypeError):
        found = json.loads((row[0] if row else None) or "{}")
        if isinstance(found, dict):
            return found
    return {}


def _write_comment(conn: Admin, target: BranchTarget, **changes: object) -> None:
    """Record whose database this is and that it was used now, keeping what was there.

    Any connection to the server will do: the database's own, when the command
    holds it already, spares opening the maintenance database's.
    """
    comment = _comment(conn, target.database)
    comment.update(
        {
            _COMMENT_KEY: target.branch,
            "commit": target.commit,
            "last_used": _now(),
            **changes,
        }
    )
    comment.setdefault("created", comment["last_used"])
    comment_on(conn, target.database, json.dumps(comment, sort_keys=True))


def _revision(target: Target, database: str) -> str | None:
    with target.other(database) as conn:
        return database_revision(conn)


def _parents(target: BranchTarget, conn: Admin) -> list[tuple[str, str]]:
    """Candidate parents, best first: (branch, database) with a database on the server."""
    ranked: list[tuple[tuple[int, int, bool, str], str, str]] = []
    for name, tip in git.branches(target.root).items():
        if name == target.branch:
            continue
        database = target.database_of(name)
        if not database_exists(conn, database):
            continue
        counted = git.ahead_behind(target.root, target.commit, tip)
        if counted is None:
            continue
        ahead, behind = counted
        ranked.append(((ahead, behind, name != target.default, name), name, database))
    found = [(name, database) for _, name, database in sorted(ranked)]
    if (
        target.default is None
        and not target.is_default
        and database_exists(conn, target.base.database)
    ):
        found.append((target.base.database, target.base.database))  # no default branch: the base
    return found


def _copy_parent(command: Target, conn: Admin, *, wait: float) -> tuple[str, str] | None:
    """Copy the nearest parent whose revision this checkout knows (so ``up`` can migrate
    it); ``None`` when no parent will do, and nothing was made.

    The copy's revision is read, not the parent's: a session on the parent, even
    one just closed, would hold up the copy while the server lets it go.
    """
    target = _branch(command)
    known = known_revisions(versions_dir(target.root))
    for name, database in _parents(target, conn):
        copy_waiting(conn, database, target.database, wait=wait)
        # Read on the command's own connection, which the rest of `up` goes on using.
        revision = database_revision(command.connection())
        if revision is None or revision in known:
            return name, database
        command.disconnect()
        drop_database(conn, target.database)
    return None


def _branch(command: Target) -> BranchTarget:
    if command.branch is None:  # pragma: no cover - the CLI asks only where branches apply
        raise ValueError("this command's target has no branch database")
    return command.branch


def ensure(command: Target, *, wait: float = COPY_WAIT) -> Ensured:
    """Make sure this branch's database exists (the server runs); copy it from its parent
    when new. Marks it used now either way.

    A database that is there is found by connecting to it: the connection the
    rest of the command uses, so a warm ``up`` opens no other. Only a new one
    takes the maintenance database's connection and the advisory lock.
    """
    target = _branch(command)
    with suppress(DatabaseMissingError):
        _write_comment(command.connection(wait=True), target)
        return Ensured(database=target.database, created=False)
    conn = command.admin(wait=True)
    with branch_lock(conn):
        if database_exists(conn, target.database):  # made meanwhile by a concurrent `up`
            _write_comment(conn, target)
            return Ensured(database=target.database, created=False)
        # The configured database, made as a plain `up` makes it: the default branch's own.
        create_missing(conn, target.base)
        if target.is_default:
            _write_comment(conn, target)
            return Ensured(database=target.database, created=False)
        parent = _copy_parent(command, conn, wait=wait)
        if parent is None:
            create_database(conn, target.database, owner=target.base.user)
        _write_comment(conn, target, created=_now(), parent=parent[0] if parent else None)
        return Ensured(database=target.database, created=True, parent=parent[0] if parent else None)


def touch(command: Target) -> None:
    """Mark this branch's database used now, when it exists (never creates it)."""
    target = _branch(command)
    with suppress(DatabaseMissingError):
        _write_comment(command.connection(), target)


def drop(command: Target, databases: list[str]) -> None:
    """Drop these branch databases, ending their sessions (the caller has asked)."""
    if command.database in databases:
        command.disconnect()
    conn = command.admin(wait=True)
    with branch_lock(conn):
        for database in databases:
            drop_database(conn, database)


# -- listing ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BranchDatabase:
    """One branch's database on the server, for ``branch list`` and ``branch prune``.

    ``state`` is ``current``, ``default``, ``branch`` (a local branch),
    ``merged`` (into the default branch), ``gone`` (its branch was deleted) or
    ``detached`` (a commit no working tree is at).
    """

    database: str
    branch: str
    state: str
    revision: str | None
    size_bytes: int
    last_used: dt.datetime | None

    @property
    def size(self) -> str:
        """The size for people: ``7.6 MB``."""
        return f"{self.size_bytes / 1_000_000:.1f} MB"

    def as_dict(self) -> dict[str, object]:
        """For ``--json``."""
        return {
            "database": self.database,
            "branch": self.branch,
            "state": self.state,
            "revision": self.revision,
            "size_bytes": self.size_bytes,
            "last_used": self.last_used.isoformat() if self.last_used else None,
        }


@dataclasses.dataclass(frozen=True)
class DiskUse:
    """The server's disk use: branch databases, snapshots, and everything."""

    branches: int
    snapshots: int
    total: int

    def describe(self) -> str:
        """``branch databases 24.1 MB, snapshots 7.6 MB, server 40.2 MB``."""
        return (
            f"branch databases {self.branches / 1_000_000:.1f} MB, "
            f"snapshots {self.snapshots / 1_000_000:.1f} MB, "
            f"server {self.total / 1_000_000:.1f} MB"
        )

    def as_dict(self) -> dict[str, int]:
        """For ``--json``."""
        return {"branches": self.branches, "snapshots": self.snapshots, "total": self.total}


def _rows(conn: psycopg.Connection[Any]) -> list[tuple[str, str | None, int]]:
    rows = conn.execute(
        "SELECT datname, shobj_description(oid, 'pg_database'), pg_database_size(oid) "
        "FROM pg_database"
    ).fetchall()
    return [(str(name), comment, int(size)) for name, comment, size in rows]


def disk_use(command: Target, conn: psycopg.Connection[Any] | None = None) -> DiskUse:
    """What the branch databases (the base included), the snapshots, and the server take.

    Any connection to the server can read it (``status`` passes the database's own).
    """
    base = command.server.database
    rows = _rows(conn if conn is not None else command.admin())
    branches = sum(size for name, _, size in rows if name == base or is_branch_database(base, name))
    snaps = sum(size for name, _, size in rows if "__snap_" in name)
    return DiskUse(branches=branches, snapshots=snaps, total=sum(size for _, _, size in rows))


def _state(target: BranchTarget, branch: str | None, database: str, busy: set[str]) -> str:
    if database == target.database:
        return "current"
    if database == target.base.database:
        return "default"
    if branch is None:
        return "detached"
    if branch in busy:
        return "branch"
    if target.default is not None and git.is_merged(target.root, branch, target.default):
        return "merged"
    return "branch"


def list_databases(command: Target) -> list[BranchDatabase]:
    """Every branch database of this server's ``POSTGRES_DB``, the default branch's first."""
    target = _branch(command)
    base = target.base.database
    local = git.branches(target.root)
    by_name = {target.database_of(name): name for name in local}
    busy = git.checked_out_elsewhere(target.root)
    live = live_databases(target)
    rows = [
        row for row in _rows(command.admin()) if row[0] == base or is_branch_database(base, row[0])
    ]
    found = []
    for database, raw, size in rows:
        comment: dict[str, object] = {}
        with suppress(ValueError, TypeError):
            loaded = json.loads(raw or "{}")
            comment = loaded if isinstance(loaded, dict) else {}
        last_used = None
        with suppress(ValueError, TypeError, KeyError):  # no comment: made by `reset`, restored
            last_used = dt.datetime.fromisoformat(str(comment["last_used"]))
        if database in by_name:
            branch, state = by_name[database], None
        elif database == target.database:
            branch, state = target.label, "current"
        elif database == base:  # POSTGRES_DB itself is never pruned, default branch or not
            branch, state = target.default or "(the configured database)", "default"
        else:  # no local branch: the comment's label, else the commit in the name
            named = comment.get(_COMMENT_KEY)
            commit = str(comment.get("commit") or "") or _commit_in_name(database)
            if named is None:
                branch, state = f"detached at {commit[:7] or '?'}", "detached"
            else:
                branch, state = str(named), "gone"
            if database in live:  # a working tree is there now, whatever the label says
                state = "branch"
        if state is None:
            state = _state(target, branch, database, busy)
        revision = None
        with suppress(BotPersistenceError):  # a database being dropped or copied right now
            revision = _revision(command, database)
        found.append(BranchDatabase(database, branch, state, revision, size, last_used))
    order = {"default": 0, "current": 1}
    return sorted(found, key=lambda entry: (order.get(entry.state, 2), entry.branch))


def _commit_in_name(database: str) -> str:
    """The short commit a detached ``HEAD``'s database is named for (``__br_at-1a2b3c4_``)."""
    found = _DETACHED_NAME.search(database)
    return found.group(1) if found else ""


def prunable(entries: list[BranchDatabase]) -> list[BranchDatabase]:
    """The databases ``branch prune`` drops: deleted or merged branches, old detached commits."""
    return [entry for entry in entries if entry.state in {"gone", "merged", "detached"}]
