"""Dev database snapshots: whole copies of the database, kept on the same server.

A snapshot of database ``bot`` named ``before-refactor`` is the database
``bot__snap_before-refactor``, made with ``CREATE DATABASE ... TEMPLATE bot``: a
file copy on the server, far quicker than a dump and restore. Restoring copies
the snapshot to a new database first and swaps it in by renaming, so a failed
restore leaves the old database as it was. Snapshots do not accept connections
(nobody can change one by accident) and carry a comment saying what they are.

PostgreSQL copies a database only while nobody else is connected to it, so
saving and restoring both need the other sessions gone; the caller decides
whether to end them (``end_sessions=True``) after asking the user. The copy
itself, and the account of who holds it up, is :mod:`bot_persistence.devdb.copies`'.

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
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg

from bot_persistence.devdb.copies import (
    Session,
    copy,
    copy_ending_sessions,
    in_use,
    sessions,
)
from bot_persistence.devdb.target import Target
from bot_persistence.errors import DatabaseMissingError, SnapshotError, SnapshotNameError
from bot_persistence.provision.base import restoring_name
from bot_persistence.provision.databases import (
    allow_connections,
    comment_on,
    database_exists,
    drop_database,
    rename_database,
)

__all__ = [
    "AUTO_PREFIX",
    "Session",
    "Snapshot",
    "check_name",
    "delete",
    "list_snapshots",
    "other_sessions",
    "restore",
    "save",
    "save_before_reset",
]

_SEPARATOR = "__snap_"
#: A snapshot's name, matched in full (``$`` would also match before a final newline).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
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


def check_name(name: str) -> str:
    """``name`` when the naming rule takes it; else :class:`SnapshotNameError` (exit 2).

    Commands call it first, so a bad name is a usage error before any server is asked.
    """
    if not _NAME.fullmatch(name) or ".." in name:
        raise SnapshotNameError(
            f"snapshot name {name!r} may hold only letters, digits, '.', '_' and '-' "
            "(no '..'), and must start with a letter or digit"
        )
    return name


def _snapshot_database(target: Target, name: str) -> str:
    full = f"{target.database}{_SEPARATOR}{check_name(name)}"
    if len(full.encode()) > _MAX_IDENTIFIER:
        room = _MAX_IDENTIFIER - len(f"{target.database}{_SEPARATOR}".encode())
        raise SnapshotNameError(
            f"snapshot name {name!r} is too long: PostgreSQL names hold 63 bytes, so "
            f"use at most {room} characters"
        )
    return full


def other_sessions(target: Target) -> list[Session]:
    """The sessions, other than ours, connected to the dev database."""
    return sessions(target.admin(), target.database)


def save(target: Target, name: str, *, end_sessions: bool = False) -> Snapshot:
    """Copy the dev database to snapshot ``name``; refuses a name in use.

    The target's own connection to the database is closed first: a copy waits
    for nobody, ourselves included.
    """
    database = target.database
    copy_name = _snapshot_database(target, name)
    target.disconnect()
    conn = target.admin()
    if not database_exists(conn, database):
        raise DatabaseMissingError(
            f"database {database!r} does not exist, so there is nothing to "
            "snapshot; run `bot-db up` first"
        )
    if database_exists(conn, copy_name):
        raise SnapshotError(
            f"a snapshot named {name!r} exists already; choose another name or "
            f"`bot-db snapshot delete {name}` first"
        )
    found = sessions(conn, database)
    if found and not end_sessions:
        raise in_use(database, found, f"snapshot {database!r}")
    copy_ending_sessions(conn, database, copy_name, end=end_sessions)
    created = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    comment = json.dumps({"bot_db_snapshot": name, "of": database, "created": created.isoformat()})
    comment_on(conn, copy_name, comment)
    allow_connections(conn, copy_name, False)
    size = _size(conn, copy_name)
    return Snapshot(name=name, database=copy_name, created=created, size_bytes=size)


def _comment_of(conn: psycopg.Connection[Any], database: str) -> str | None:
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %(n)s",
        {"n": database},
    ).fetchone()
    return str(row[0]) if row and row[0] is not None else None


def _size(conn: psycopg.Connection[Any], database: str) -> int:
    row = conn.execute("SELECT pg_database_size(%(name)s)", {"name": database}).fetchone()
    return int(row[0]) if row else 0


def list_snapshots(target: Target) -> list[Snapshot]:
    """The dev database's snapshots, oldest first."""
    prefix = f"{target.database}{_SEPARATOR}"
    rows = (
        target.admin()
        .execute(
            "SELECT datname, shobj_description(oid, 'pg_database'), pg_database_size(oid) "
            "FROM pg_database WHERE starts_with(datname, %(prefix)s)",
            {"prefix": prefix},
        )
        .fetchall()
    )
    found = []
    for database, comment, size in rows:
        created = None
        with suppress(ValueError, KeyError, TypeError):
            created = dt.datetime.fromisoformat(json.loads(comment or "{}")["created"])
        found.append(Snapshot(str(database)[len(prefix) :], str(database), created, int(size)))
    epoch = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return sorted(found, key=lambda snap: (snap.created or epoch, snap.name))


def restore(target: Target, name: str, *, end_sessions: bool = False) -> Snapshot:
    """Replace the dev database with a copy of snapshot ``name`` (the snapshot is kept).

    The copy is made under a temporary name and swapped in by renaming, so if
    anything fails before the swap the dev database is untouched.
    """
    database = target.database
    source = _snapshot_database(target, name)
    snapshot = next((s for s in list_snapshots(target) if s.database == source), None)
    if snapshot is None:
        raise SnapshotError(
            f"no snapshot named {name!r} of {database!r}; `bot-db snapshot list` "
            "shows those there are"
        )
    incoming = restoring_name(database)
    target.disconnect()  # the database is about to be replaced under it
    conn = target.admin()
    found = sessions(conn, database)
    if found and not end_sessions:
        raise in_use(database, found, f"restore {database!r}")
    drop_database(conn, incoming)
    copy(conn, source, incoming)
    allow_connections(conn, incoming, True)
    # What the database's comment says of it (whose branch, which commit) stays with it.
    comment_on(conn, incoming, _comment_of(conn, database))
    # Ctrl-C or SIGTERM waits until both steps are done; a crash between them
    # is finished by the next `bot-db up` (provision.base.ensure_database).
    with _signals_deferred():
        drop_database(conn, database)
        rename_database(conn, incoming, database)
    return snapshot


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block is done, then act on the first one.

    Python-level handlers record the signal meanwhile; on exit the handler that
    was there before runs for it (Ctrl-C's KeyboardInterrupt, bot-db's
    SIGTERM), in this thread, right after the block.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may change signal handlers
        return
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    wanted = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, hold) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            handler = previous[signal.Signals(caught[0])]
            if callable(handler):
                handler(caught[0], None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(caught[0])


def delete(target: Target, name: str) -> None:
    """Delete snapshot ``name``."""
    copy_name = _snapshot_database(target, name)
    conn = target.admin()
    if not database_exists(conn, copy_name):
        raise SnapshotError(
            f"no snapshot named {name!r} of {target.database!r}; `bot-db snapshot list` "
            "shows those there are"
        )
    drop_database(conn, copy_name)


def save_before_reset(target: Target) -> tuple[Snapshot | None, list[str]]:
    """The snapshot ``reset`` takes first, and the older automatic ones it pruned.

    Nothing to save when the database does not exist yet. Sessions are ended:
    the user has already agreed to the reset, which ends them anyway.
    """
    if not database_exists(target.admin(), target.database):
        return None, []
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    taken = {snap.name for snap in list_snapshots(target)}
    name = f"{AUTO_PREFIX}{stamp}"
    for suffix in range(2, 100):  # two resets within one second
        if name not in taken:
            break
        name = f"{AUTO_PREFIX}{stamp}-{suffix}"
    snapshot = save(target, name, end_sessions=True)
    automatic = [s for s in list_snapshots(target) if s.name.startswith(AUTO_PREFIX)]
    pruned = [s.name for s in automatic[:-KEEP_AUTO]]
    for name in pruned:
        delete(target, name)
    return snapshot, pruned
