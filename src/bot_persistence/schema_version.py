"""Which schema revision the code expects, and which one a database holds, without Alembic.

The bot's start-up probe compares the two on every start. Loading Alembic's
script machinery for that costs more than the probe itself and drags the
migration tooling into a process that only serves queries, so this module
reads the revision files' module-level ``revision`` / ``down_revision``
assignments with :mod:`ast` (nothing is imported or executed) and the
database's ``alembic_version`` table with one query. Alembic itself is loaded
only to migrate (:mod:`bot_persistence.migrations.runner`).

A database stamped with a revision the files here do not have was migrated by
other code (another git branch, a newer release); Alembic can then neither
upgrade nor downgrade it and says only "Can't locate revision". Every path that
meets such a database (the bot's start-up probe, ``bot-db`` migrate, check and
status) raises the one error :func:`ahead_of_code` builds instead.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Connection, text

from bot_persistence.errors import MigrationFailedError, SchemaAheadOfCodeError

__all__ = ["ahead_of_code", "database_revision", "heads_in", "known_revisions", "single_head"]

_KEYS = ("revision", "down_revision")


def _assignments(path: Path) -> dict[str, object]:
    """The literal values of ``revision`` and ``down_revision`` in one revision file."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    found: dict[str, object] = {}
    for node in tree.body:
        target: ast.expr | None = None
        value: ast.expr | None = None
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        if isinstance(target, ast.Name) and target.id in _KEYS and value is not None:
            try:
                found[target.id] = ast.literal_eval(value)
            except ValueError:
                continue
    return found


def _as_tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(str(item) for item in value)
    return ()


def heads_in(versions: Path) -> list[str]:
    """The head revisions of the revision files in ``versions`` (sorted; empty when none)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(versions.glob("*.py")):
        values = _assignments(path)
        revision = values.get("revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        parents.update(_as_tuple(values.get("down_revision")))
    return sorted(revisions - parents)


def known_revisions(versions: Path) -> set[str]:
    """Every revision id the revision files in ``versions`` define."""
    found = {_assignments(path).get("revision") for path in sorted(versions.glob("*.py"))}
    return {revision for revision in found if isinstance(revision, str)}


def ahead_of_code(
    database: str, revision: str, versions: Path, *, consult_git: bool
) -> SchemaAheadOfCodeError:
    """The error for ``database`` stamped with ``revision``, which ``versions`` lacks.

    With ``consult_git`` (a development checkout, never production) it names the
    branch or commit that added the revision's file, from git's history; the
    bot in production only says that newer code migrated the database.
    """
    origin = None
    if consult_git:
        # The one place the runtime asks git anything, and only on the dev path;
        # loaded here so the bot's process never imports it otherwise.
        from bot_persistence.devdb.git import revision_origin

        found = revision_origin(versions.parent.parent, revision)
        origin = found.describe() if found else None
    if not consult_git:
        return SchemaAheadOfCodeError(
            f"database {database!r} is at revision {revision}, which this release's "
            "migrations do not have: newer code migrated it; deploy the release that has "
            "that revision (or newer)",
            revision=revision,
        )
    source = f"it was added on {origin}" if origin else "no branch or commit here has it"
    return SchemaAheadOfCodeError(
        f"database {database!r} is at revision {revision}, which this checkout's migrations "
        f"do not have ({source}); check out that code to use this database, or run "
        "`bot-db reset` to rebuild it from this checkout's migrations",
        revision=revision,
    )


def single_head(versions: Path) -> str | None:
    """The one head revision, ``None`` for no revisions; a typed error for several heads."""
    heads = heads_in(versions)
    if len(heads) > 1:
        raise MigrationFailedError(
            f"the migration history has {len(heads)} heads ({', '.join(heads)}); "
            "merge them with `alembic merge -m 'merge heads' heads`"
        )
    return heads[0] if heads else None


def database_revision(connection: Connection) -> str | None:
    """The revision stamped in ``connection``'s database, ``None`` when it was never migrated."""
    present = connection.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
    if not present.scalar_one():
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise MigrationFailedError(
            f"the database is stamped with {len(rows)} revisions ({', '.join(sorted(rows))}); "
            "it has several heads: run `bot-db migrate` on the code that merges them"
        )
    return rows[0] if rows else None
