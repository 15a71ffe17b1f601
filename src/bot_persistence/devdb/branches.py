"""One dev database per git branch, so that ``git checkout`` never breaks the dev database.

Branch A adds a migration and runs it; back on B, B's files do not have A's
revision and every Alembic command fails. Here each branch works on a database
of its own, on the dev server this checkout owns (not with ``DATABASE_URL`` or
the external backend, not in production, not with
``BOT_DB_BRANCH_DATABASES=false``):

- the default branch (``origin/HEAD``'s, else ``main`` or ``master``) keeps
  ``POSTGRES_DB``, the one database there was before, so turning this on or off
  loses nothing;
- any other branch uses ``<POSTGRES_DB>__br_<slug>_<hash>``: a readable slug of
  the branch name and 7 hex digits of a hash of the exact name, so that any
  characters and any length give a valid name and two branches whose slugs
  agree stay apart. The name leaves room under PostgreSQL's 63-byte limit for
  the branch's own snapshots (``__snap_<name>``), whose names can never look
  like a branch database's (they hold ``__``, a slug never does);
- a detached ``HEAD`` (a tag, a bisect, a rebase in progress) uses a database
  named for its commit, made the same way; ``branch prune`` drops it once no
  working tree is at that commit;
- each ``git worktree`` has its own ``HEAD``, so its own branch database; git
  never checks one branch out in two working trees, so two worktrees sharing a
  server never share a database.

A branch seen for the first time gets a copy (``CREATE DATABASE ... TEMPLATE``)
of the database of the branch it grew from: of the branches with a database,
the one whose merge-base with ``HEAD`` is nearest, preferring the branch that
has not moved since and then the default branch, skipping any database at a
revision this checkout lacks. ``up`` then migrates it to this branch's head. A
branch seen before finds its database as it was left. Creation is serialised
by an advisory lock on the server, so concurrent ``up`` in two worktrees is safe.
Who a database belongs to, its parent and when it was last used are kept in the
database's comment; which branch a database serves is always recomputed from
its name, so a lost comment loses only the display of a deleted branch's name.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from psycopg import sql
from sqlalchemy import Connection

from bot_persistence.connection import connected_engine
from bot_persistence.devdb import git
from bot_persistence.devdb.snapshots import _admin, _copy, _exists, _run, _sessions
from bot_persistence.errors import BotPersistenceError, ConfigurationError, DatabaseInUseError
from bot_persistence.project import project_root, versions_dir
from bot_persistence.schema_version import database_revision, known_revisions
from bot_persistence.settings import Settings

__all__ = [
    "BranchDatabase",
    "BranchTarget",
    "DiskUse",
    "Ensured",
    "applies",
    "database_name",
    "disk_use",
    "drop",
    "ensure",
    "list_databases",
    "prunable",
    "resolve",
    "touch",
]

INFIX = "__br_"
HASH_LENGTH = 7
_MAX_IDENTIFIER = 63
#: Bytes kept free for ``__snap_`` and the longest automatic snapshot name
#: (``pre-reset-YYYYmmdd-HHMMSS-NN``), so a branch database can always be snapshotted.
SNAPSHOT_ROOM = 35
#: The advisory lock every process creating a branch database takes ("botbrnc" in ASCII).
BRANCH_LOCK_KEY = 0x626F7462726E63
#: Seconds a new branch waits for its parent's database to be free to copy.
COPY_WAIT = 10.0
_COMMENT_KEY = "bot_db_branch"


def applies(settings: Settings) -> bool:
    """True when these settings name a dev server of ours on which branches get databases."""
    return (
        settings.branch_databases
        and not settings.url_from_environment
        and settings.backend != "external"
        and settings.environment != "production"
    )


def _prefix(base: str) -> str:
    """``<base>__br_``, the base cut (at a character boundary) when it leaves no room."""
    room = _MAX_IDENTIFIER - len(INFIX) - 1 - HASH_LENGTH
    cut = base.encode()[:room].decode(errors="ignore")
    return f"{cut}{INFIX}"


def _slug(text_: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text_).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def database_name(base: str, branch: str | None, commit: str = "") -> str:
    """The database of ``branch`` (or, detached, of ``commit``) beside database ``base``."""
    # A NUL cannot be in a branch name, so a commit's key never equals a branch's.
    key = branch if branch is not None else f"\0{commit}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:HASH_LENGTH]
    prefix = _prefix(base)
    fixed = len(prefix.encode()) + 1 + HASH_LENGTH
    room = max(0, _MAX_IDENTIFIER - SNAPSHOT_ROOM - fixed)
    slug = _slug(branch if branch is not None else f"at-{commit[:7]}")[:room].strip("-")
    return f"{prefix}{slug}_{digest}"


def _is_branch_database(base: str, name: str) -> bool:
    pattern = re.escape(_prefix(base)) + rf"[a-z0-9-]*_[0-9a-f]{{{HASH_LENGTH}}}"
    return re.fullmatch(pattern, name) is not None


@dataclasses.dataclass(frozen=True)
class BranchTarget:
    """The checkout's branch and the database it works on.

    ``base`` are the settings as configured (``POSTGRES_DB`` is the default
    branch's database, and the server is started with them); ``settings`` name
    this branch's database, and every dev-database command works with them.
    """

    base: Settings
    settings: Settings
    root: Path
    branch: str | None
    commit: str
    default: str | None

    @property
    def database(self) -> str:
        """This branch's database."""
        return self.settings.database

    @property
    def is_default(self) -> bool:
        """True on the default branch, whose database is ``POSTGRES_DB`` itself."""
        return self.database == self.base.database

    @property
    def label(self) -> str:
        """``feature-x``, or ``detached at 1a2b3c4``."""
        return self.branch if self.branch is not None else f"detached at {self.commit[:7]}"

    def database_of(self, branch: str) -> str:
        """The database another local branch uses on this server."""
        if branch == self.default:
            return self.base.database
        return database_name(self.base.database, branch)


def with_database(settings: Settings, database: str) -> Settings:
    """The same settings naming another database on the same server."""
    return settings.model_copy(update={"postgres_db": database})


def resolve(settings: Settings, root: Path | None = None) -> BranchTarget | None:
    """The current branch's database, or ``None`` for one database as configured.

    Asks git only; the server is not contacted, so ``bot-db url`` stays instant.
    """
    if not applies(settings):
        return None
    if root is None:
        try:
            root = project_root()
        except ConfigurationError:
            return None
    found = git.checkout(root)
    if found is None:
        return None
    default = git.default_branch(found.root)
    if found.branch is not None and found.branch == default:
        database = settings.database
    else:
        database = database_name(settings.database, found.branch, found.commit)
    return BranchTarget(
        base=settings,
        settings=with_database(settings, database),
        root=found.root,
        branch=found.branch,
        commit=found.commit,
        default=default,
    )


# -- on the server --------------------------------------------------------------------


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
        if not _exists(conn, database):
            continue
        counted = git.ahead_behind(target.root, target.commit, tip)
        if counted is None:
            continue
        ahead, behind = counted
        ranked.append(((ahead, behind, name != target.default, name), name, database))
    found = [(name, database) for _, name, database in sorted(ranked)]
    if target.default is None and not target.is_default and _exists(conn, target.base.database):
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
        _run(conn, sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(target.database)))
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
        if _exists(conn, target.database):
            _write_comment(conn, target)
            return Ensured(database=target.database, created=False)
        parent = _copy_parent(target, conn, wait=wait)
        if parent is None:
            _run(
                conn,
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(target.database), sql.Identifier(target.base.user)
                ),
            )
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
        if _exists(conn, target.database):
            _write_comment(conn, target)


def drop(target: BranchTarget, databases: list[str]) -> None:
    """Drop these branch databases, ending their sessions (the caller has asked)."""
    with _admin(target.base) as conn, _branch_lock(conn):
        for database in databases:
            _run(
                conn,
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)),
            )


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
    branches = sum(
        size for name, _, size in rows if name == base or _is_branch_database(base, name)
    )
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
        rows = [row for row in _rows(conn) if row[0] == base or _is_branch_database(base, row[0])]
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
