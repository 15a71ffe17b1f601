"""Copying a database on the server, with an account of who is in the way.

PostgreSQL copies a database (``CREATE DATABASE ... TEMPLATE``: a file copy,
milliseconds where a dump takes seconds) only while nobody else is connected
to it. Snapshots and new branch databases both copy; this is where the copy,
the sessions that block it and the one-line error naming them are written.
Every function takes the autocommit connection to the maintenance database
(:meth:`bot_persistence.devdb.target.Target.admin`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import psycopg

from bot_persistence.errors import DatabaseInUseError
from bot_persistence.provision.databases import create_database

__all__ = [
    "Session",
    "copy",
    "copy_ending_sessions",
    "copy_waiting",
    "end_sessions",
    "in_use",
    "sessions",
]

Admin = psycopg.Connection[Any]


@dataclasses.dataclass(frozen=True)
class Session:
    """Another session connected to a database."""

    pid: int
    user: str
    application: str
    client: str

    def describe(self) -> str:
        """``pid 4242 (bot, python on 127.0.0.1)``."""
        what = self.application or "no application name"
        return f"pid {self.pid} ({self.user}, {what} on {self.client or 'a local socket'})"


def sessions(conn: Admin, database: str) -> list[Session]:
    """The sessions, other than ours, connected to ``database``."""
    rows = conn.execute(
        "SELECT pid, usename, application_name, host(client_addr) FROM pg_stat_activity "
        "WHERE datname = %(name)s AND pid <> pg_backend_pid() ORDER BY pid",
        {"name": database},
    ).fetchall()
    return [Session(int(r[0]), str(r[1] or ""), str(r[2] or ""), str(r[3] or "")) for r in rows]


def end_sessions(conn: Admin, database: str) -> None:
    """End the other sessions on ``database``, waiting (up to 5 s each) until they are gone."""
    conn.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
        "WHERE datname = %(name)s AND pid <> pg_backend_pid()",
        {"name": database},
    )


def in_use(database: str, found: list[Session], doing: str) -> DatabaseInUseError:
    """The error for a copy the other sessions on ``database`` hold up, naming a few."""
    listed = "; ".join(session.describe() for session in found[:3])
    more = f" and {len(found) - 3} more" if len(found) > 3 else ""
    return DatabaseInUseError(
        f"cannot {doing}: {len(found)} other session(s) are connected to {database!r} "
        f"({listed}{more}); stop the bot and close editors, or pass --yes to end them"
    )


def copy(conn: Admin, source: str, target: str) -> None:
    """Copy ``source`` to a new database ``target``; DatabaseInUseError names who holds it."""
    try:
        create_database(conn, target, template=source)
    except psycopg.errors.ObjectInUse:
        raise in_use(source, sessions(conn, source), f"copy {source!r}") from None


def copy_ending_sessions(conn: Admin, source: str, target: str, *, end: bool) -> None:
    """Copy ``source``; with ``end``, end its sessions first, and again if a client (a
    bot's pool) reconnects before the copy starts, a few times at most."""
    attempts = 5 if end else 1
    for attempt in range(1, attempts + 1):
        if end:
            end_sessions(conn, source)
        try:
            copy(conn, source, target)
            return
        except DatabaseInUseError:
            if attempt == attempts:
                raise


def copy_waiting(conn: Admin, source: str, target: str, *, wait: float) -> None:
    """Copy ``source``, waiting (boundedly) while a short-lived session holds it.

    For a copy nobody asked to end sessions for (a new branch database): a
    session that was just closed may still hold the source while the server
    lets it go.
    """
    deadline = time.monotonic() + wait
    delay = 0.05
    while True:
        try:
            copy(conn, source, target)
            return
        except DatabaseInUseError:
            if time.monotonic() + delay > deadline:
                found = sessions(conn, source)
                listed = "; ".join(session.describe() for session in found[:3])
                raise DatabaseInUseError(
                    f"cannot copy {source!r} for a new branch database: {len(found)} other "
                    f"session(s) stayed connected to it for {wait:g}s ({listed}); stop them "
                    "(the bot, an editor) and run `bot-db up` again"
                ) from None
        time.sleep(delay)  # back-off between attempts at a condition, bounded by the deadline
        delay = min(delay * 2, 0.5)
