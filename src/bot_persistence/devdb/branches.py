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

This module answers "which database?" from git alone, for every command;
:mod:`bot_persistence.devdb.branch_databases` does the work on the server
(copy, list, prune, disk use).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from pathlib import Path

from bot_persistence.devdb import git
from bot_persistence.errors import ConfigurationError
from bot_persistence.project import project_root
from bot_persistence.settings import Settings

__all__ = [
    "HASH_LENGTH",
    "INFIX",
    "SNAPSHOT_ROOM",
    "BranchTarget",
    "applies",
    "database_name",
    "is_branch_database",
    "live_databases",
    "resolve",
    "with_database",
]

INFIX = "__br_"
HASH_LENGTH = 7
_MAX_IDENTIFIER = 63
#: Bytes kept free for ``__snap_`` and the longest automatic snapshot name
#: (``pre-reset-YYYYmmdd-HHMMSS-NN``), so a branch database can always be snapshotted.
SNAPSHOT_ROOM = 35


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


def _bytes_of(name: str) -> bytes:
    """The bytes git holds for ``name``: a byte that was not UTF-8 came back as a lone
    surrogate (``surrogateescape``) and goes back as that byte."""
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no byte made (not from git): kept distinct
        return name.encode("utf-8", "surrogatepass")


def database_name(base: str, branch: str | None, commit: str = "") -> str:
    """The database of ``branch`` (or, detached, of ``commit``) beside database ``base``."""
    # A NUL cannot be in a branch name, so a commit's key never equals a branch's.
    key = branch if branch is not None else f"\0{commit}"
    digest = hashlib.sha256(_bytes_of(key)).hexdigest()[:HASH_LENGTH]
    prefix = _prefix(base)
    fixed = len(prefix.encode()) + 1 + HASH_LENGTH
    room = max(0, _MAX_IDENTIFIER - SNAPSHOT_ROOM - fixed)
    slug = _slug(branch if branch is not None else f"at-{commit[:7]}")[:room].strip("-")
    return f"{prefix}{slug}_{digest}"


def is_branch_database(base: str, name: str) -> bool:
    """True for a branch database's name beside ``base`` (never a snapshot's: ``__`` in it)."""
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


def live_databases(target: BranchTarget) -> dict[str, str]:
    """Each database some working tree's ``HEAD`` maps to, with that tree: from git alone."""
    found: dict[str, str] = {}
    for head in git.worktree_heads(target.root):
        if head.branch is not None:
            database = target.database_of(head.branch)
            where = f"{head.branch!r} is checked out in {head.root}"
        else:
            database = database_name(target.base.database, None, head.commit)
            where = f"{head.root} is at its commit {head.commit[:7]} (detached)"
        found.setdefault(database, where)
    return found
