"""Dev database snapshots: whole copies of the database, kept on the same server.

A snapshot of database ``bot`` named ``before-refactor`` is the database
``bot__snap_before-refactor``, made with ``CREATE DATABASE ... TEMPLATE bot``: a
file copy on the server, far quicker than a dump and restore. Restoring copies
the snapshot to a new database first and swaps it in by renaming, so a failed
restore leaves the old database as it was. Snapshots do not accept connections
(nobody can change one by accident) and carry a comment saying what they are.

PostgreSQL copies a database only while nobody else is connected to it, so
saving and restoring both need the other sessions gone; the caller decides
whether to end them (``end_sessions=True``) after asking the user.

This is our own code because no library keeps named copies of a dev database:
the tools that clone by template (pytest-postgresql's janitor, our own pytest
plugin) make throw-away databases for tests, and the dump tools copy through
SQL, seconds where a template copy takes milliseconds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import psycopg
from psycopg import sql
from sqlalchemy import Connection

from bot_persistence.connection import admin_url, connected_engine
from bot_persistence.errors import DatabaseInUseError, DatabaseMissingError, SnapshotError
from bot_persistence.provision.databases import (
    allow_connections,
    create_database,
    database_exists,
    drop_database,
    rename_database,
)
from bot_persistence.settings import Settings

__all__ = [
    "AUTO_PREFIX",
    "Session",
    "Snapshot",
    "delete",
    "list_snapshots",
    "other_sessions",
    "restore",
    "save",
    "save_before_reset",
]

_SEPARATOR = "__snap_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_MAX_IDENTIFIER = 63
#: Names of the snapshots ``reset`` takes by itself; only the newest few are kept.
AUTO_PREFIX = "pre-reset-"
KEEP_AUTO = 3


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """One saved copy of the dev database."""

    name: str
    database: str
    created: dt.datetime | None
    size_bytes: int

    @property
    def size(self) -> str:
        """The size for people: ``7.6 MB``."""
        return f"{self.size_bytes / 1_000_000:.1f} MB"

    def as_dict(self) -> dict[str, object]:
        """For ``--json``."""
        return {
            "name": self.name,
            "database": self.database,
            "created": self.created.isoformat() if self.created else None,
            "size_bytes": self.size_bytes,
        }


@dataclasses.dataclass(frozen=True)
class Session:
    """Another session connected to the dev database."""

    pid: int
    user: str
    application: str
    client: str

    def describe(self) -> str:
        """``pid 4242 (bot, python on 127.0.0.1)``."""
        what = self.application or "no application name"
        return f"pid {self.pid} ({self.user}, {what} on {self.client or 'a local socket'})"


def _snapshot_database(settings: Settings, name: str) -> str:
    if not _NAME.match(name):
        raise SnapshotError(
            f"snapshot name {name!r} may hold only letters, digits, '.', '_' and '-', "
            "and must start with a letter or digit"
        )
    full = f"{settings.database}{_SEPARATOR}{name}"
    if len(full.encode()) > _MAX_IDENTIFIER:
        room = _MAX_IDENTIFIER - len(f"{settings.database}{_SEPARATOR}".encode())
        raise SnapshotError(
            f"snapshot name {name!r} is too long: PostgreSQL names hold 63 bytes, so "
            f"use at most {room} characters"
        )
    return full


@contextmanager
def _admin(settings: Settings) -> Iterator[Connection]:
    with (
        connected_engine(settings, url=admin_url(settings)) as engine,
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
    ):
        yield conn


def _run(conn: Connection, statement: sql.Composable) -> None:
    conn.exec_driver_sql(statement.as_string())


def _sessions(conn: Connection, database: str) -> list[Session]:
    rows = conn.exec_driver_sql(
        "SELECT pid, usename, application_name, host(client_addr) FROM pg_stat_activity "
        "WHERE datname = %(name)s AND pid <> pg_backend_pid() ORDER BY pid",
        {"name": database},
    ).all()
    return [Session(int(r[0]), str(r[1] or ""), str(r[2] or ""), str(r[3] or "")) for r in rows]


def _end_sessions(conn: Connection, database: str) -> None:
    # Waits (up to 5 s each) until the sessions are gone, so the copy can start.
    conn.exec_driver_sql(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
        "WHERE datname = %(name)s AND pid <> pg_backend_pid()",
        {"name": database},
    )


def _in_use(database: str, sessions: list[Session], doing: str) -> DatabaseInUseError:
    listed = "; ".join(session.describe() for session in sessions[:3])
    more = f" and {len(sessions) - 3} more" if len(sessions) > 3 else ""
    return DatabaseInUseError(
        f"cannot {doing}: {len(sessions)} other session(s) are connected to {database!r} "
        f"({listed}{more}); stop the bot and close editors, or pass --yes to end them"
    )


def other_sessions(settings: Settings) -> list[Session]:
    """The sessions, other than ours, connected to the dev database."""
    with _admin(settings) as conn:
        return _sessions(conn, settings.database)


def _copy(conn: Connection, source: str, target: str) -> None:
    try:
        create_database(conn, target, template=source)
    except psycopg.errors.ObjectInUse:
        raise _in_use(source, _sessions(conn, source), f"copy {source!r}") from None


def _copy_ending_sessions(
    conn: Connection, source: str, target: str, *, end_sessions: bool
) -> None:
    """Copy ``source``; with ``end_sessions``, end its sessions first, and again if a
    client (a bot's pool) reconnects before the copy starts, a few times at most."""
    attempts = 5 if end_sessions else 1
    for attempt in range(1, attempts + 1):
        if end_sessions:
            _end_sessions(conn, source)
        try:
            _copy(conn, source, target)
            return
        except DatabaseInUseError:
            if attempt == attempts:
                raise


def save(settings: Settings, name: str, *, end_sessions: bool = False) -> Snapshot:
    """Copy the dev database to snapshot ``name``; refuses a name in use."""
    target = _snapshot_database(settings, name)
    with _admin(settings) as conn:
        if not database_exists(conn, settings.database):
            raise DatabaseMissingError(
                f"database {settings.database!r} does not exist, so there is nothing to "
                "snapshot; run `bot-db up` first"
            )
        if database_exists(conn, target):
            raise SnapshotError(
                f"a snapshot named {name!r} exists already; choose another name or "
                f"`bot-db snapshot delete {name}` first"
            )
        sessions = _sessions(conn, settings.database)
        if sessions and not end_sessions:
            raise _in_use(settings.database, sessions, f"snapshot {settings.database!r}")
        _copy_ending_sessions(conn, settings.database, target, end_sessions=end_sessions)
        created = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        comment = json.dumps(
            {"bot_db_snapshot": name, "of": settings.database, "created": created.isoformat()}
        )
        _run(
            conn,
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(target), sql.Literal(comment)
            ),
        )
        allow_connections(conn, target, False)
        size = conn.exec_driver_sql(
            "SELECT pg_database_size(%(name)s)", {"name": target}
        ).scalar_one()
    return Snapshot(name=name, database=target, created=created, size_bytes=int(size))


def list_snapshots(settings: Settings) -> list[Snapshot]:
    """The dev database's snapshots, oldest first."""
    prefix = f"{settings.database}{_SEPARATOR}"
    with _admin(settings) as conn:
        rows = conn.exec_driver_sql(
            "SELECT datname, shobj_description(oid, 'pg_database'), pg_database_size(oid) "
            "FROM pg_database WHERE starts_with(datname, %(prefix)s)",
            {"prefix": prefix},
        ).all()
    found = []
    for database, comment, size in rows:
        created = None
        with suppress(ValueError, KeyError, TypeError):
            created = dt.datetime.fromisoformat(json.loads(comment or "{}")["created"])
        found.append(Snapshot(str(database)[len(prefix) :], str(database), created, int(size)))
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(found, key=lambda snap: (snap.created or epoch, snap.name))


def restore(settings: Settings, name: str, *, end_sessions: bool = False) -> Snapshot:
    """Replace the dev database with a copy of snapshot ``name`` (the snapshot is kept).

    The copy is made under a temporary name and swapped in by renaming, so if
    anything fails before the swap the dev database is untouched.
    """
    source = _snapshot_database(settings, name)
    snapshot = next((s for s in list_snapshots(settings) if s.database == source), None)
    if snapshot is None:
        raise SnapshotError(
            f"no snapshot named {name!r} of {settings.database!r}; `bot-db snapshot list` "
            "shows those there are"
        )
    incoming = f"{settings.database}__restoring"[:_MAX_IDENTIFIER]
    with _admin(settings) as conn:
        sessions = _sessions(conn, settings.database)
        if sessions and not end_sessions:
            raise _in_use(settings.database, sessions, f"restore {settings.database!r}")
        drop_database(conn, incoming)
        _copy(conn, source, incoming)
        allow_connections(conn, incoming, True)
        _run(conn, sql.SQL("COMMENT ON DATABASE {} IS NULL").format(sql.Identifier(incoming)))
        drop_database(conn, settings.database)
        rename_database(conn, incoming, settings.database)
    return snapshot


def delete(settings: Settings, name: str) -> None:
    """Delete snapshot ``name``."""
    target = _snapshot_database(settings, name)
    with _admin(settings) as conn:
        if not database_exists(conn, target):
            raise SnapshotError(
                f"no snapshot named {name!r} of {settings.database!r}; `bot-db snapshot list` "
                "shows those there are"
            )
        drop_database(conn, target)


def save_before_reset(settings: Settings) -> tuple[Snapshot | None, list[str]]:
    """The snapshot ``reset`` takes first, and the older automatic ones it pruned.

    Nothing to save when the database does not exist yet. Sessions are ended:
    the user has already agreed to the reset, which ends them anyway.
    """
    with _admin(settings) as conn:
        if not database_exists(conn, settings.database):
            return None, []
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    taken = {snap.name for snap in list_snapshots(settings)}
    name = f"{AUTO_PREFIX}{stamp}"
    for suffix in range(2, 100):  # two resets within one second
        if name not in taken:
            break
        name = f"{AUTO_PREFIX}{stamp}-{suffix}"
    snapshot = save(settings, name, end_sessions=True)
    automatic = [s for s in list_snapshots(settings) if s.name.startswith(AUTO_PREFIX)]
    pruned = [s.name for s in automatic[:-KEEP_AUTO]]
    for name in pruned:
        delete(settings, name)
    return snapshot, pruned
