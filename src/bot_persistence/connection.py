"""Synchronous connections for the tooling, and the one place driver errors become ours.

The command line, migrations, seeding and the health probe talk to PostgreSQL
through a short-lived SQLAlchemy engine on psycopg 3. When a connection fails,
libpq says why only in its message (psycopg gives connection failures no
SQLSTATE), so :func:`translate_connect_error` reads the message once, here, and
raises the typed error whose text says what to do.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from bot_persistence.errors import (
    AuthenticationFailedError,
    BotPersistenceError,
    DatabaseMissingError,
    DatabaseUnavailableError,
    DiskFullError,
    ServerNotRunningError,
)
from bot_persistence.settings import Settings

__all__ = [
    "LOW_DISK_BYTES",
    "admin_url",
    "disk_full_error",
    "is_retryable",
    "sync_engine",
    "translate_connect_error",
    "wait_until_ready",
]

_log = logging.getLogger(__name__)
T = TypeVar("T")

#: Less free space than this under the data directory counts as a full disk:
#: PostgreSQL writes its log (WAL) in 16 MB segments and stops when it cannot.
LOW_DISK_BYTES = 32 * 1024 * 1024

# Messages libpq and the server give while a server is still coming up or going
# down: worth retrying until a deadline, unlike a wrong password.
_RETRYABLE = (
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "connection refused",
    "server closed the connection unexpectedly",
    "no such file or directory",
)


def disk_full_error(path: Path) -> DiskFullError | None:
    """A DiskFullError naming ``path`` when the disk holding it has (almost) no space left."""
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return None
    if usage.free >= LOW_DISK_BYTES:
        return None
    mib = 1024 * 1024
    return DiskFullError(
        f"the disk holding {path} is full ({usage.free // mib} MB free of "
        f"{usage.total // mib} MB); free space on it (old snapshots: `bot-db snapshot list` "
        "and `bot-db snapshot delete NAME`; other large files on that disk), then run `bot-db up`"
    )


def sync_engine(settings: Settings, *, url: URL | None = None) -> Engine:
    """A pool-less engine for one tool run: nothing lingers after ``dispose()``."""
    return create_engine(
        url or settings.url,
        poolclass=NullPool,
        connect_args={"connect_timeout": settings.connect_timeout},
    )


def admin_url(settings: Settings) -> URL:
    """The same server, but the ``postgres`` maintenance database: for CREATE/DROP DATABASE."""
    return settings.url.set(database="postgres")


def _original(exc: BaseException) -> BaseException:
    return exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc


def _message_of(exc: BaseException) -> str:
    return str(_original(exc))


def _first(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "no detail"


def is_retryable(exc: BaseException) -> bool:
    """True when a failed connect is a server still starting (or briefly away)."""
    message = _message_of(exc).lower()
    return any(fragment in message for fragment in _RETRYABLE)


def translate_connect_error(exc: BaseException, settings: Settings) -> BotPersistenceError:
    """Turn a driver's connection failure into our typed error with a next step.

    The message names host, port, user and database, never the password.
    """
    message = _message_of(exc)
    lowered = message.lower()
    where = f"{settings.host}:{settings.port}"
    if "no space left on device" in lowered or getattr(_original(exc), "sqlstate", None) == "53100":
        return DiskFullError(
            f"the disk of the server at {where} is full ({_scrub(_first(message), settings)}); "
            f"free space on the disk of its data directory ({settings.data_dir} for the "
            "embedded server): delete old snapshots (`bot-db snapshot list`) or other files, "
            "then run `bot-db up`"
        )
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return AuthenticationFailedError(
            f"the server at {where} refused the password for user {settings.user!r}; "
            "check POSTGRES_PASSWORD (or DATABASE_URL) in .env"
        )
    if "role" in lowered and "does not exist" in lowered:
        return AuthenticationFailedError(
            f"the server at {where} has no user {settings.user!r}; "
            "check POSTGRES_USER (or DATABASE_URL) in .env"
        )
    if "database" in lowered and "does not exist" in lowered:
        return DatabaseMissingError(
            f"database {settings.database!r} does not exist on {where}; "
            "run `bot-db up` to create it (or fix POSTGRES_DB in .env)"
        )
    if is_retryable(exc) or "timeout expired" in lowered or "could not connect" in lowered:
        return ServerNotRunningError(
            f"no PostgreSQL server answers at {where}; run `bot-db up` to start the "
            "development server (or check POSTGRES_HOST/POSTGRES_PORT in .env)"
        )
    first_line = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    return DatabaseUnavailableError(
        f"cannot use database {settings.database!r} at {where}: {_scrub(first_line, settings)}"
    )


def _scrub(text: str, settings: Settings) -> str:
    password = settings.password
    return text.replace(password, "***") if password else text


def wait_until_ready(
    attempt: Callable[[], T],
    settings: Settings,
    *,
    timeout: float | None = None,
    what: str = "PostgreSQL",
) -> T:
    """Call ``attempt`` until it succeeds, retrying only while the server is starting.

    Anything not worth retrying (a wrong password, a missing database) is raised
    at once as our typed error; a deadline bounds the rest. One log line per retry.
    """
    deadline = time.monotonic() + (settings.startup_timeout if timeout is None else timeout)
    delay = 0.05
    tries = 0
    while True:
        tries += 1
        try:
            return attempt()
        except (DBAPIError, psycopg.Error) as exc:
            if not is_retryable(exc) or time.monotonic() + delay > deadline:
                raise translate_connect_error(exc, settings) from None
            _log.info(
                "%s at %s:%s not ready (try %d): %s",
                what,
                settings.host,
                settings.port,
                tries,
                _scrub(_message_of(exc).strip().splitlines()[-1], settings),
            )
        time.sleep(delay)  # back-off between attempts at a condition, bounded by the deadline
        delay = min(delay * 2, 0.5)


@contextlib.contextmanager
def connected_engine(settings: Settings, *, url: URL | None = None) -> Iterator[Engine]:
    """An engine whose first connection has been proven, disposed on exit."""
    engine = sync_engine(settings, url=url)
    try:
        try:
            with engine.connect():
                pass
        except (DBAPIError, psycopg.Error) as exc:
            raise translate_connect_error(exc, settings) from None
        yield engine
    finally:
        engine.dispose()
