"""Branch databases on the dev server: made from a parent's copy, listed, pruned, measured.

:mod:`bot_persistence.devdb.branches` says which database the checkout's
branch uses; this module does the server's side. Creating one is serialised by
an advisory lock, so concurrent ``up`` in two worktrees is safe. Who a database
belongs to, its parent and when it was last used are kept in the database's
comment; which branch a database serves is always recomputed from its name, so
a lost comment (a ``reset``, a snapshot restored) loses only the display of a
deleted branch's name. Creating and dropping are
:mod:`bot_persistence.provision.databases`'; copying with the sessions' account,
:mod:`bot_persistence.devdb.snapshots`'.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from psycopg import sql
from sqlalchemy import Connection

from bot_persistence.connection import connected_engine
from bot_persistence.devdb import git
from bot_persistence.devdb.branches import BranchTarget, is_branch_database, with_database
from bot_persistence.devdb.snapshots import _admin, _copy, _run, _sessions
from bot_persistence.errors import BotPersistenceError, DatabaseInUseError
from bot_persistence.project import versions_dir
from bot_persistence.provision.databases import create_database, database_exists, drop_database
from bot_persistence.schema_version import database_revision, known_revisions
from bot_persistence.settings import Settings

__all__ = [
    "BRANCH_LOCK_KEY",
    "COPY_WAIT",
    "BranchDatabase",
    "DiskUse",
    "Ensured",
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


@dataclasses.dataclass(frozen=True)
class Ensured:
    """What :func:`ensure` did: found the database, or made it (from ``parent``'s)."""

    database: str
    created: bool
    parent: str | None = None
    parent_database: str | None = None

    def describe(self, label: str) -> str:
        """One progress line."""
        if not self.created:
            return f"branch    {label}: its own database {self.database}"
        if self.parent is None:
            return f"branch    {label}: new database {self.database} (no parent database to copy)"
        return f"branch    {label}: new database {self.database}, copied from {self.parent}'s"


@contextmanager
def _branch_lock(conn: Connection) -> Iterator[None]:
    conn.exec_driver_sql("SELECT pg_advisory_lock(%(key)s)", {"key": BRANCH_LOCK_KEY})
    try:
        yield
    finally:
        conn.exec_driver_sql("SELECT pg_advisory_unlock(%(key)s)", {"key": BRANCH_LOCK_KEY})


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def _comment(conn: Connection, database: str) -> dict[str, object]:
    raw = conn.exec_driver_sql(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %(n)s",
        {"n": database},
    ).scalar()
    with suppress(ValueError, TypeError):
        found = json.loads(raw or "{}")
        if isinstance(found, dict):
            return found
    return {}


def _write_comment(conn: Connection, target: BranchTarget, **changes: object) -> None:
    """Record whose database this is and that it was used now, keeping what was there."""
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
    _run(
        conn,
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(target.database), sql.Literal(json.dumps(comment, sort_keys=True))
        ),
    )


def _revision(settings: Settings, database: str) -> str | None:
    with (
        connected_engine(settings, url=with_database(settings, database).url) as engine,
        engine.connect() as conn,
    ):
        return database_revision(conn)


def _parents(target: BranchTarget, conn: Connection) -> list[tuple[str, str]]:
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


def _copy_parent(target: BranchTarget, conn: Connection, *, wait: float) -> tuple[str, str] | None:
    """Copy the nearest parent whose revision this checkout knows (so ``up`` can migrate
    it); ``None`` when no parent will do, and nothing was made.

    The copy's revision is read, not the parent's: a session on the parent, even
    one just closed, would hold up the copy while the server lets it go.
    """
    known = known_revisions(versions_dir(target.root))
    for name, database in _parents(target, conn):
        _copy_waiting(conn, database, target.database, wait=wait)
        revision = _revision(target.base, target.database)
        if revision is None or revision in known:
            return name, database
        drop_database(conn, target.database)
    return None


def _copy_waiting(conn: Connection, source: str, target: str, *, wait: float) -> None:
    """Copy ``source``, waiting (boundedly) while a short-lived session holds it."""
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            _copy(conn, source, target)
            return
        except DatabaseInUseError:
            if time.monotonic() + delay > deadline:
                sessions = _sessions(conn, source)
                listed = "; ".join(session.describe() for session in sessions[:3])
                raise DatabaseInUseError(
                    f"cannot copy {source!r} for a new branch database: {len(sessions)} other "
                    f"session(s) stayed connected to it for {wait:g}s ({listed}); stop them "
                    "(the bot, an editor) and run `bot-db up` again"
                ) from None
        time.sleep(delay)  # back-off between attempts at a condition, bounded by the deadline
        delay = min(delay * 2, 0.5)


def ensure(target: BranchTarget, *, wait: float = COPY_WAIT) -> Ensured:
    """Make sure this branch's database exists (the server runs); copy it from its parent
    when new. Marks it used now either way."""
    with _admin(target.base) as conn, _branch_lock(conn):
        if database_exists(conn, target.database):
            _write_comment(conn, target)
            return Ensured(database=target.database, created=False)
        parent = _copy_parent(target, conn, wait=wait)
        if parent is None:
            create_database(conn, target.database, owner=target.base.user)
        _write_comment(conn, target, created=_now(), parent=parent[0] if parent else None)
        return Ensured(
            database=target.database,
            created=True,
            parent=parent[0] if parent else None,
            parent_database=parent[1] if parent else None,
        )


def touch(target: BranchTarget) -> None:
    """Mark this branch's database used now, when it exists (never creates it)."""
    with _admin(target.base) as conn:
        if database_exists(conn, target.database):
            _write_comment(conn, target)


def drop(target: BranchTarget, databases: list[str]) -> None:
    """Drop these branch databases, ending their sessions (the caller has asked)."""
    with _admin(target.base) as conn, _branch_lock(conn):
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


def _rows(conn: Connection) -> list[tuple[str, str | None, int]]:
    rows = conn.exec_driver_sql(
        "SELECT datname, shobj_description(oid, 'pg_database'), pg_database_size(oid) "
        "FROM pg_database"
    ).all()
    return [(str(name), comment, int(size)) for name, comment, size in rows]


def disk_use(settings: Settings) -> DiskUse:
    """What the branch databases (the base included), the snapshots, and the server take."""
    base = settings.database
    with _admin(settings) as conn:
        rows = _rows(conn)
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


def list_databases(target: BranchTarget) -> list[BranchDatabase]:
    """Every branch database of this server's ``POSTGRES_DB``, the default branch's first."""
    base = target.base.database
    local = git.branches(target.root)
    by_name = {target.database_of(name): name for name in local}
    busy = git.checked_out_elsewhere(target.root)
    with _admin(target.base) as conn:
        rows = [row for row in _rows(conn) if row[0] == base or is_branch_database(base, row[0])]
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
        else:
            named = comment.get(_COMMENT_KEY)
            commit = str(comment.get("commit") or "")
            if named is None and commit in busy:
                branch, state = f"detached at {commit[:7]}", "branch"
            elif named is None:
                branch, state = f"detached at {commit[:7] or '?'}", "detached"
            else:
                branch, state = str(named), "gone"
        if state is None:
            state = _state(target, branch, database, busy)
        revision = None
        with suppress(BotPersistenceError):  # a database being dropped or copied right now
            revision = _revision(target.base, database)
        found.append(BranchDatabase(database, branch, state, revision, size, last_used))
    order = {"default": 0, "current": 1}
    return sorted(found, key=lambda entry: (order.get(entry.state, 2), entry.branch))


def prunable(entries: list[BranchDatabase]) -> list[BranchDatabase]:
    """The databases ``branch prune`` drops: deleted or merged branches, old detached commits."""
    return [entry for entry in entries if entry.state in {"gone", "merged", "detached"}]
