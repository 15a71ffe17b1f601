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
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from bot_persistence.errors import (
    MigrationFailedError,
    SchemaAheadOfCodeError,
    SchemaNotAtHeadError,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = [
    "Revisions",
    "ahead_of_code",
    "check_schema",
    "database_revision",
    "heads_in",
    "known_revisions",
    "read_revision",
    "single_head",
    "with_origin",
]

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


def _graph(versions: Path) -> dict[str, tuple[str, ...]]:
    """Each revision in ``versions`` and the revisions it follows."""
    graph: dict[str, tuple[str, ...]] = {}
    for path in sorted(versions.glob("*.py")):
        values = _assignments(path)
        revision = values.get("revision")
        if isinstance(revision, str):
            graph[revision] = _as_tuple(values.get("down_revision"))
    return graph


@dataclasses.dataclass(frozen=True)
class Revisions:
    """The revision files of one ``versions`` folder, read once: what is known, what is head."""

    versions: Path
    #: Each revision and the revisions it follows.
    graph: Mapping[str, tuple[str, ...]]

    @classmethod
    def read(cls, versions: Path) -> Revisions:
        """Parse every revision file in ``versions`` (with :mod:`ast`; nothing runs)."""
        return cls(versions, _graph(versions))

    @property
    def known(self) -> frozenset[str]:
        """Every revision there is a file for."""
        return frozenset(self.graph)

    @property
    def heads(self) -> list[str]:
        """The head revisions (sorted; empty when there are no revisions)."""
        parents = {parent for followed in self.graph.values() for parent in followed}
        return sorted(set(self.graph) - parents)

    @property
    def head(self) -> str | None:
        """The one head revision, ``None`` for no revisions; a typed error for several heads."""
        heads = self.heads
        if len(heads) > 1:
            raise MigrationFailedError(
                f"the migration history has {len(heads)} heads ({', '.join(heads)}); "
                "merge them with `alembic merge -m 'merge heads' heads`"
            )
        return heads[0] if heads else None


def known_revisions(versions: Path) -> set[str]:
    """Every revision this code has a file for."""
    return set(_graph(versions))


def heads_in(versions: Path) -> list[str]:
    """The head revisions of the revision files in ``versions`` (sorted; empty when none)."""
    return Revisions.read(versions).heads


def ahead_of_code(
    database: str, revision: str, versions: Path, *, development: bool, origin: str | None = None
) -> SchemaAheadOfCodeError:
    """The error for ``database`` stamped with ``revision``, which ``versions`` lacks.

    In ``development`` (never production) it speaks of the checkout, and
    ``origin`` says where the revision came from (``"branch 'x', commit ..."``);
    the bot's process knows nothing of git, so the tooling asks it
    (:func:`bot_persistence.devdb.git.explain_ahead`, at the command line's edge)
    and builds the error again with the answer. ``""`` is asked but not found.
    In production the message only says that newer code migrated the database.
    """
    if not development:
        return SchemaAheadOfCodeError(
            f"database {database!r} is at revision {revision}, which this release's "
            "migrations do not have: the database is ahead of the code; deploy the release "
            "that has that revision (or newer)",
            revision=revision,
        )
    source = _UNASKED if origin is None else _source(origin)
    return SchemaAheadOfCodeError(
        f"database {database!r} is at revision {revision}, which this checkout's migrations "
        f"do not have ({source}); check out that code to use this database, or run "
        "`bot-db reset` to rebuild it from this checkout's migrations",
        revision=revision,
        database=database,
        checkout=versions.parent.parent,
    )


#: What a development message says where nobody asked git (the bot's process).
_UNASKED = "`bot-db check` names the branch that added it"


def _source(origin: str) -> str:
    return f"it was added on {origin}" if origin else "no branch or commit here has it"


def with_origin(error: SchemaAheadOfCodeError, origin: str) -> SchemaAheadOfCodeError:
    """``error`` saying where its revision came from (``""``: nowhere here), the rest kept.

    What a caller added to the message on its way up (``up`` says its server
    still runs) stays: only the part that was not asked is replaced.
    """
    message = str(error)
    if _UNASKED not in message:
        return error
    return SchemaAheadOfCodeError(
        message.replace(_UNASKED, _source(origin)),
        revision=error.revision,
        database=error.database,
        checkout=error.checkout,
    )


def single_head(versions: Path) -> str | None:
    """The one head revision, ``None`` for no revisions; a typed error for several heads."""
    return Revisions.read(versions).head


_STAMPED = "SELECT to_regclass('alembic_version') IS NOT NULL"
_VERSIONS = "SELECT version_num FROM alembic_version"


def database_revision(connection: psycopg.Connection[Any] | Connection) -> str | None:
    """The revision stamped in ``connection``'s database, ``None`` when it was never migrated.

    On a plain psycopg connection (the tooling's, see ``devdb.target``) or the
    psycopg connection under a SQLAlchemy one, in whatever transaction it is in.
    """
    raw = connection if isinstance(connection, psycopg.Connection) else _driver(connection)
    stamped = raw.execute(_STAMPED).fetchone()
    if not stamped or not stamped[0]:
        return None
    return _one_revision([str(row[0]) for row in raw.execute(_VERSIONS).fetchall()])


def _driver(connection: Connection) -> psycopg.Connection[Any]:
    raw = connection.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):  # pragma: no cover - psycopg is our only driver
        raise TypeError(f"expected a psycopg connection, got {type(raw).__name__}")
    return raw


async def read_revision(connection: psycopg.AsyncConnection[Any]) -> str | None:
    """:func:`database_revision` on a plain async psycopg connection (the bot's start-up probe)."""
    cursor = await connection.execute(_STAMPED)
    stamped = await cursor.fetchone()
    if not stamped or not stamped[0]:
        return None
    cursor = await connection.execute(_VERSIONS)
    return _one_revision([str(row[0]) for row in await cursor.fetchall()])


def _one_revision(rows: Sequence[str]) -> str | None:
    if len(rows) > 1:
        raise MigrationFailedError(
            f"the database is stamped with {len(rows)} revisions ({', '.join(sorted(rows))}); "
            "it has several heads: run `bot-db migrate` on the code that merges them"
        )
    return rows[0] if rows else None


def check_schema(
    revision: str | None, versions: Path | Revisions, *, database: str, development: bool
) -> None:
    """Raise the typed error for a database behind or ahead of the code; nothing when at head.

    Ahead means stamped with a revision this code has no file for (newer code
    migrated it): neither migrating nor serving is safe. ``development`` as for
    :func:`ahead_of_code` (``development``). ``versions`` may be read already
    (:class:`Revisions`).
    """
    revisions = versions if isinstance(versions, Revisions) else Revisions.read(versions)
    head = revisions.head
    if revision is not None and revision not in revisions.known:
        raise ahead_of_code(database, revision, revisions.versions, development=development)
    if revision != head:
        raise SchemaNotAtHeadError(
            f"database {database!r} is at revision {revision or 'base (empty)'}, behind the "
            f"code's head {head}; run `bot-db migrate` (`bot-db deploy` in production), or "
            "set BOT_DB_MIGRATE_ON_STARTUP=true"
        )
