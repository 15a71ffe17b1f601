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
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from bot_persistence.errors import (
    AuthenticationFailedError,
    BotPersistenceError,
    ConnectionLostError,
    DatabaseMissingError,
    DatabaseUnavailableError,
    ServerNotRunningError,
    StatementTimeoutError,
)
from bot_persistence.settings import Settings

__all__ = [
    "admin_url",
    "connect_kwargs",
    "is_retryable",
    "statement_timeout_sql",
    "sync_engine",
    "translate_call_error",
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


def connect_kwargs(settings: Settings, *, statement_timeout: bool = True) -> dict[str, Any]:
    """psycopg connect arguments for ``settings``: every connection we open uses these.

    ``statement_timeout=False`` leaves the statement timeout out (the tooling:
    a migration may rightly run long).
    """
    kwargs: dict[str, Any] = {"connect_timeout": settings.connect_timeout}
    if statement_timeout and settings.statement_timeout_ms:
        kwargs["options"] = f"-c statement_timeout={settings.statement_timeout_ms}"
    return kwargs


def statement_timeout_sql(settings: Settings) -> tuple[str, str] | None:
    """``(when, sql)`` setting the statement timeout where the startup options cannot.

    ``None`` when :func:`connect_kwargs` carries it (a direct connection).
    """
    return None


def sync_engine(settings: Settings, *, url: URL | None = None) -> Engine:
    """A pool-less engine for one tool run: nothing lingers after ``dispose()``."""
    return create_engine(
        url or settings.url,
        poolclass=NullPool,
        connect_args=connect_kwargs(settings, statement_timeout=False),
    )


def admin_url(settings: Settings) -> URL:
    """The same server, but the ``postgres`` maintenance database: for CREATE/DROP DATABASE."""
    return settings.url.set(database="postgres")


def _message_of(exc: BaseException) -> str:
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    return str(original)


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


# Phrases of a failed *connect* (as opposed to a connection lost mid-call).
_CONNECT_FAILURES = (
    "connection refused",
    "could not connect",
    "timeout expired",
    "password authentication failed",
    "no password supplied",
    "does not exist",
    "the database system is starting up",
    "no such file or directory",
)


def translate_call_error(exc: BaseException, settings: Settings) -> BotPersistenceError | None:
    """Our typed error for a driver failure during a call; ``None`` for anything else.

    Constraint and data errors are not handled here: the repositories know what
    they mean. This covers the server being away, slow, or gone mid-call.
    """
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(original, psycopg.errors.QueryCanceled):
        return StatementTimeoutError(
            f"a statement on {settings.database!r} ran longer than "
            f"{settings.statement_timeout_ms} ms and was cancelled; nothing was changed: "
            "look for a missing index or raise BOT_DB_STATEMENT_TIMEOUT_MS"
        )
    if not isinstance(original, psycopg.OperationalError):
        return None
    lowered = _message_of(exc).lower()
    if any(phrase in lowered for phrase in _CONNECT_FAILURES):
        return translate_connect_error(exc, settings)
    return ConnectionLostError(
        f"the connection to {settings.host}:{settings.port} was lost during a call "
        "(the server restarted or went away); nothing was changed: retry, and if it "
        "keeps failing run `bot-db check`"
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
