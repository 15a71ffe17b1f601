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
import time
from collections.abc import Callable, Iterator
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
    ServerNotRunningError,
)
from bot_persistence.settings import Settings

__all__ = [
    "admin_url",
    "driver_message",
    "first_line",
    "is_retryable",
    "last_line",
    "sync_engine",
    "translate_connect_error",
    "wait_until_ready",
]

_log = logging.getLogger(__name__)
T = TypeVar("T")

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


def driver_message(exc: BaseException) -> str:
    """What the driver (or, for anything else, the exception) said, stripped.

    SQLAlchemy wraps the driver's error and prefixes the statement; the
    driver's own text is what a person can act on.
    """
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return str(original).strip()


def first_line(exc: BaseException) -> str:
    """The first line of :func:`driver_message`, for a one-line error; the type when empty.

    The server's first line names the problem; the lines after it (DETAIL,
    HINT, the statement) would break the one-line rule.
    """
    lines = driver_message(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def last_line(exc: BaseException) -> str:
    """The last line of :func:`driver_message`, the type when empty.

    For a connection attempt libpq lists each address it tried; the last line
    is the most recent attempt, which is what a retry log wants.
    """
    lines = driver_message(exc).splitlines()
    return lines[-1] if lines else type(exc).__name__


def is_retryable(exc: BaseException) -> bool:
    """True when a failed connect is a server still starting (or briefly away)."""
    message = driver_message(exc).lower()
    return any(fragment in message for fragment in _RETRYABLE)


def translate_connect_error(exc: BaseException, settings: Settings) -> BotPersistenceError:
    """Turn a driver's connection failure into our typed error with a next step.

    The message names host, port, user and database, never the password.
    """
    lowered = driver_message(exc).lower()
    where = f"{settings.host}:{settings.port}"
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
    return DatabaseUnavailableError(
        f"cannot use database {settings.database!r} at {where}: {_scrub(first_line(exc), settings)}"
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
                _scrub(last_line(exc), settings),
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
