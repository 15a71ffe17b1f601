"""CREATE, DROP, find, rename, comment on and close databases: the one place these are written.

The backends create the configured database, the dev database's workflows
drop it and copy it (reset, snapshots), the migration roundtrip makes a
scratch database per run, and the pytest plugin builds templates and clones.
They all speak to the server's maintenance database, some through SQLAlchemy
and some through psycopg directly; each function here takes either and runs
on the psycopg connection underneath, which must be in autocommit mode
(PostgreSQL runs none of these statements inside a transaction).

Errors are psycopg's own (``DuplicateDatabase``, ``ObjectInUse``,
``InsufficientPrivilege``, ``InvalidCatalogName``): what each means to a user
depends on the caller, which turns it into our typed error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = [
    "AdminConnection",
    "allow_connections",
    "comment_on",
    "create_database",
    "database_exists",
    "drop_database",
    "rename_database",
]

#: An autocommit connection to a server's maintenance database.
AdminConnection: TypeAlias = "psycopg.Connection[Any] | Connection"


def _driver(conn: AdminConnection) -> psycopg.Connection[Any]:
    if isinstance(conn, psycopg.Connection):
        return conn
    raw = conn.connection.driver_connection
    if not isinstance(raw, psycopg.Connection):  # pragma: no cover - psycopg is our only driver
        raise TypeError(f"expected a psycopg connection, got {type(raw).__name__}")
    return raw


def database_exists(conn: AdminConnection, name: str) -> bool:
    """True when the server has a database called ``name``."""
    found = (
        _driver(conn).execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    )
    return found is not None


def create_database(
    conn: AdminConnection,
    name: str,
    *,
    template: str | None = None,
    owner: str | None = None,
    file_copy: bool = False,
) -> None:
    """``CREATE DATABASE name [OWNER owner] [TEMPLATE template]``.

    ``file_copy`` asks PostgreSQL 15 and later for ``STRATEGY FILE_COPY``: the
    default copies through the WAL, which leaves every page dirty in shared
    buffers for the DROP's checkpoint to write (~100 ms); for a small database
    that is copied and dropped again soon, a plain file copy is quicker on both
    ends. Older servers ignore it.
    """
    driver = _driver(conn)
    statement: sql.Composed = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if owner is not None:
        statement = sql.SQL("{} OWNER {}").format(statement, sql.Identifier(owner))
    if template is not None:
        statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
    if file_copy and driver.info.server_version >= 150000:
        statement = sql.SQL("{} STRATEGY FILE_COPY").format(statement)
    driver.execute(statement)


def drop_database(conn: AdminConnection, name: str) -> None:
    """Drop ``name``, ending its sessions first (PostgreSQL 13+); nothing when it is gone."""
    _driver(conn).execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    )


def rename_database(conn: AdminConnection, name: str, new_name: str) -> None:
    """``ALTER DATABASE name RENAME TO new_name`` (nobody may be connected to ``name``)."""
    _driver(conn).execute(
        sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
            sql.Identifier(name), sql.Identifier(new_name)
        )
    )


def allow_connections(conn: AdminConnection, name: str, allowed: bool) -> None:
    """Let clients connect to ``name``, or not: a template or snapshot takes none."""
    _driver(conn).execute(
        sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
            sql.Identifier(name), sql.SQL("true" if allowed else "false")
        )
    )


def comment_on(conn: AdminConnection, name: str, comment: str | None) -> None:
    """``COMMENT ON DATABASE``: where snapshots and branch databases say what they are.

    Any connection to the server will do, the database's own included.
    """
    _driver(conn).execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(
            sql.Identifier(name), sql.Literal(comment) if comment is not None else sql.NULL
        )
    )
