"""How every connection is made, and the one place driver errors become ours.

The command line, migrations, seeding and the health probe talk to PostgreSQL
through a short-lived SQLAlchemy engine on psycopg 3; the bot's async engine
(:mod:`bot_persistence.db`) takes its connect arguments from here too, so that
``BOT_DB_POOLER`` means the same thing on both paths:

- :func:`connect_kwargs`: psycopg's connect arguments. Behind a transaction
  pooler, server-side prepared statements are off (``prepare_threshold=None``):
  PgBouncer 1.18 hands each transaction to any server connection, where a
  statement prepared on another one does not exist. The statement timeout goes
  in the startup ``options`` only when nothing sits in between (PgBouncer
  refuses that parameter).
- :func:`statement_timeout_sql`: behind a pooler, the bot's pool
  (:mod:`bot_persistence.pool`) sets the timeout with ``SET`` once per server
  connection (session pooling) or ``SET LOCAL`` in every transaction
  (transaction pooling).

When a connection fails, libpq says why only in its message (psycopg gives
connection failures no SQLSTATE), so :func:`translate_connect_error` reads the
message once, here, and raises the typed error whose text says what to do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import psycopg

from bot_persistence.call_errors import connection_broke, privilege_error, server_error
from bot_persistence.errors import (
    AuthenticationFailedError,
    BotPersistenceError,
    CommitOutcomeUnknownError,
    ConnectionLostError,
    DatabaseMissingError,
    DatabaseUnavailableError,
    DiskFullError,
    PoolerModeError,
    ServerNotRunningError,
    TlsUnavailableError,
)
from bot_persistence.settings import Settings
from bot_persistence.waiting import Backoff, retry

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.engine import URL

__all__ = [
    "LOW_DISK_BYTES",
    "MAINTENANCE_DATABASE",
    "address",
    "admin_url",
    "application_name",
    "check_pooler",
    "connect",
    "connect_failure",
    "connect_kwargs",
    "disk_full_error",
    "driver_message",
    "first_line",
    "is_retryable",
    "last_line",
    "statement_timeout_sql",
    "sync_engine",
    "translate_call_error",
    "translate_connect_error",
    "url_parameter",
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


_STATEMENT_MODE = (
    "PgBouncer in statement pooling mode cannot run the bot's transactions; set "
    "pool_mode = transaction (or session) for this database in pgbouncer.ini and "
    "BOT_DB_POOLER to match"
)


def check_pooler(settings: Settings) -> None:
    """Refuse a pooler mode the bot cannot work through, before anything connects."""
    if settings.pooler == "statement":
        raise PoolerModeError(_STATEMENT_MODE)


def connect_kwargs(settings: Settings, *, statement_timeout: bool = True) -> dict[str, Any]:
    """psycopg connect arguments for ``settings``: timeout, prepared statements, options.

    ``statement_timeout=False`` leaves the statement timeout out (the tooling:
    a migration may rightly run long). Behind a pooler the timeout is not here:
    see :func:`statement_timeout_sql`.
    """
    check_pooler(settings)
    kwargs: dict[str, Any] = {"connect_timeout": settings.connect_timeout}
    if settings.pooler == "transaction":
        # psycopg prepares a statement after it ran 5 times on a connection; through
        # a transaction pooler the next run may land on a server that never saw it.
        kwargs["prepare_threshold"] = None
    if statement_timeout and settings.statement_timeout_ms and settings.pooler == "none":
        # libpq takes one options string, and a keyword replaces the URL's: keep
        # the URL's own (a search_path, a GUC) and add ours after it.
        own = f"-c statement_timeout={settings.statement_timeout_ms}"
        given = url_parameter(settings, "options")
        kwargs["options"] = f"{given} {own}" if given else own
    return kwargs


def url_parameter(settings: Settings, name: str) -> str | None:
    """The value of libpq parameter ``name`` in the URL's query (the first, if repeated)."""
    value = settings.parsed_url.query.get(name)
    if isinstance(value, tuple):
        value = value[0] if value else None
    return value or None


def application_name(settings: Settings, role: str | None = None) -> str:
    """How a connection names itself: the URL's ``application_name``, else the setting.

    ``role`` tells a tool's connection from the bot's (``bot-persistence migration``),
    within PostgreSQL's 63 characters.
    """
    name = url_parameter(settings, "application_name") or settings.application_name
    return f"{name} {role}"[:63] if role else name


def statement_timeout_sql(settings: Settings) -> tuple[str, str] | None:
    """``(when, sql)`` that sets the statement timeout behind a pooler; ``None`` when direct.

    ``when`` is ``"connect"`` (once per server connection: session pooling keeps
    it for the client's lifetime) or ``"begin"`` (every transaction: transaction
    pooling may give each one a different server connection).
    """
    if not settings.statement_timeout_ms or settings.pooler == "none":
        return None
    if settings.pooler == "session":
        return ("connect", f"SET statement_timeout = {settings.statement_timeout_ms}")
    return ("begin", f"SET LOCAL statement_timeout = {settings.statement_timeout_ms}")


def sync_engine(settings: Settings, *, url: URL | None = None) -> Engine:
    """A pool-less engine for one tool run: nothing lingers after ``dispose()``."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(
        url or settings.url,
        poolclass=NullPool,
        connect_args={
            **connect_kwargs(settings, statement_timeout=False),
            # bot-db's own sessions (a deploy, a snapshot) are told from the bot's.
            "application_name": application_name(settings, "bot-db"),
        },
    )


def admin_url(settings: Settings) -> URL:
    """The same server, but the ``postgres`` maintenance database: for CREATE/DROP DATABASE."""
    return settings.url.set(database=MAINTENANCE_DATABASE)


#: The database every server has, which CREATE/DROP DATABASE and copies connect to.
MAINTENANCE_DATABASE = "postgres"


def connect(
    settings: Settings,
    *,
    database: str | None = None,
    autocommit: bool = True,
    wait: bool = False,
) -> psycopg.Connection[Any]:
    """One psycopg connection for the tooling: the one place a tool opens one.

    ``database`` names another database on the same server (the maintenance
    database for CREATE/DROP, another branch's); ``wait`` retries while the
    server is still starting, up to ``BOT_DB_STARTUP_TIMEOUT``. A failure is
    our typed error, worded for the database asked for. The connect arguments
    are those SQLAlchemy's psycopg dialect would build from the URL
    (:meth:`~bot_persistence.database_url.DatabaseUrl.connect_params`), so a
    URL's query (``sslmode``, a socket directory) means here what it means to
    the bot.
    """
    url = settings.parsed_url
    params = (url if database is None else url.with_database(database)).connect_params()
    params.update(connect_kwargs(settings, statement_timeout=False))
    # bot-db's own sessions are told from the bot's in pg_stat_activity, as
    # sync_engine's are (a deploy waiting on the migration lock, a snapshot).
    params["application_name"] = application_name(settings, "bot-db")
    named = settings if database is None else settings.model_copy(update={"postgres_db": database})

    def attempt() -> psycopg.Connection[Any]:
        return psycopg.connect(autocommit=autocommit, **params)

    if wait:
        return wait_until_ready(attempt, named)
    try:
        return attempt()
    except psycopg.Error as exc:
        raise translate_connect_error(exc, named) from None


def _original(exc: BaseException) -> BaseException:
    """The driver's error inside SQLAlchemy's wrapper (``DBAPIError.orig``), else ``exc``.

    Read by duck type, so that a command that never made an engine never
    imports SQLAlchemy to ask whether it did.
    """
    inner = getattr(exc, "orig", None)
    return inner if isinstance(inner, BaseException) else exc


def _is_driver_error(exc: BaseException) -> bool:
    """True for psycopg's errors, bare or wrapped by SQLAlchemy."""
    return isinstance(_original(exc), psycopg.Error)


def driver_message(exc: BaseException) -> str:
    """What the driver (or, for anything else, the exception) said, stripped.

    SQLAlchemy wraps the driver's error and prefixes the statement; the
    driver's own text is what a person can act on.
    """
    return str(_original(exc)).strip()


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
    if not lines:
        return type(exc).__name__
    # libpq indents with a tab; a log line carries no raw control characters.
    return " ".join(re.sub(r"[\x00-\x1f\x7f]", " ", lines[-1]).split())


def is_retryable(exc: BaseException) -> bool:
    """True when a failed connect is a server still starting (or briefly away)."""
    message = driver_message(exc).lower()
    return any(fragment in message for fragment in _RETRYABLE)


def address(settings: Settings) -> str:
    """``host:port`` as a message names it, and the address libpq really connects to.

    With ``PGHOSTADDR`` in the environment (and no ``hostaddr`` in the URL) libpq
    connects to that address instead of resolving the host: a message naming
    only the host would send the user to the wrong machine.
    """
    where = settings.address  # every host of a failover URL, in libpq's order
    hostaddr = os.environ.get("PGHOSTADDR", "").strip()
    if hostaddr and "hostaddr=" not in settings.plain_url:
        where += f" (PGHOSTADDR={hostaddr}, which libpq connects to instead)"
    return where


def translate_connect_error(exc: BaseException, settings: Settings) -> BotPersistenceError:
    """Turn a driver's connection failure into our typed error with a next step.

    The message names host, port, user and database, never the password.
    """
    lowered = driver_message(exc).lower()
    where = address(settings)
    original = _original(exc)
    if isinstance(original, psycopg.errors.InsufficientPrivilege):
        # The probe reads alembic_version: a runtime role without its GRANT.
        return privilege_error(original, settings, statement="SELECT")
    if "no space left on device" in lowered or isinstance(original, psycopg.errors.DiskFull):
        return DiskFullError(
            f"the disk of the server at {where} is full ({_scrub(first_line(exc), settings)}); "
            f"free space on the disk of its data directory ({settings.data_dir} for the "
            "embedded server): delete old snapshots (`bot-db snapshot list`) or other files, "
            "then run `bot-db up`"
        )
    if "statement pooling mode" in lowered:
        return PoolerModeError(_STATEMENT_MODE)
    if "server does not support ssl" in lowered:
        return TlsUnavailableError(
            f"the server at {where} does not offer TLS, but the URL's sslmode asks for it; "
            "enable ssl on the server (or, on a trusted local network only, set "
            "sslmode=prefer in DATABASE_URL)"
        )
    if "unsupported startup parameter" in lowered:
        return PoolerModeError(
            f"the pooler at {where} refused a startup parameter "
            f"({first_line(exc)}); "
            "set BOT_DB_POOLER=transaction (or session) so the bot sends none"
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
    if "too many clients" in lowered or "remaining connection slots are reserved" in lowered:
        return DatabaseUnavailableError(
            f"the server at {where} has no connection slot left (max_connections); "
            "shards x (BOT_DB_POOL_SIZE + BOT_DB_MAX_OVERFLOW) must fit under it: lower "
            "them, or put PgBouncer in front (docs/production.md)"
        )
    if "database" in lowered and "does not exist" in lowered:
        return DatabaseMissingError(
            f"database {settings.database!r} does not exist on {where}; "
            "run `bot-db up` to create it (or fix POSTGRES_DB in .env)"
        )
    if "read-only" in lowered or "hot standby" in lowered or "is a standby" in lowered:
        return ServerNotRunningError(
            f"no server at {where} accepts writes (each is a standby, or in recovery): a "
            "failover in progress, or DATABASE_URL names only standbys; the next call "
            "tries again, and libpq picks the new primary with target_session_attrs=read-write"
        )
    if is_retryable(exc) or "timeout expired" in lowered or "could not connect" in lowered:
        if settings.pooler != "none":
            return ServerNotRunningError(
                f"no PgBouncer answers at {where} (BOT_DB_POOLER={settings.pooler}); start "
                "the pooler, or check DATABASE_URL's host and port"
            )
        if settings.environment == "production" or settings.url_from_environment:
            return ServerNotRunningError(
                f"no PostgreSQL server answers at {where} within "
                f"BOT_DB_CONNECT_TIMEOUT={settings.connect_timeout}s; check that the server "
                "is up and reachable from here (a restart or failover: the next call tries "
                "again), and DATABASE_URL's hosts and ports"
            )
        return ServerNotRunningError(
            f"no PostgreSQL server answers at {where}; run `bot-db up` to start the "
            "development server (or check POSTGRES_HOST/POSTGRES_PORT in .env)"
        )
    return DatabaseUnavailableError(
        f"cannot use database {settings.database!r} at {where}: {_scrub(first_line(exc), settings)}"
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
    "too many clients",
    "remaining connection slots are reserved",
)


def connect_failure(exc: BaseException, settings: Settings) -> BotPersistenceError | None:
    """Our typed error when ``exc`` is a failed connect (refused, no such user...), else None.

    A command whose server was killed part-way reconnects and is refused: that
    is "no server answers, run `bot-db up`", not an unexpected database error.
    """
    original = _original(exc)
    if not isinstance(original, psycopg.OperationalError):
        return None
    lowered = driver_message(exc).lower()
    if any(phrase in lowered for phrase in _CONNECT_FAILURES):
        return translate_connect_error(exc, settings)
    return None


def translate_call_error(
    exc: BaseException,
    settings: Settings,
    *,
    statement: str | None = None,
    during_commit: bool = False,
) -> BotPersistenceError | None:
    """Our typed error for a driver failure during a call; ``None`` for anything else.

    What the server said is read from psycopg's error class
    (:func:`bot_persistence.call_errors.server_error`: a lock timeout, a
    deadlock, a serialization failure, a missing GRANT). Constraint and data
    errors are not handled here: the repositories know what they mean. Only a
    connection that really broke is :class:`ConnectionLostError`, and one that
    broke while ``COMMIT`` was on its way (``during_commit``) is
    :class:`CommitOutcomeUnknownError`: it may have committed. ``statement`` is
    the SQL that failed, for naming a missing privilege.
    """
    original = _original(exc)
    if not isinstance(original, psycopg.Error):
        return None
    typed = server_error(original, settings, statement=statement)
    if typed is not None or not isinstance(original, psycopg.OperationalError):
        return typed
    connect = connect_failure(exc, settings)
    if connect is not None:
        return connect
    full = disk_full_error(settings.data_dir) if settings.data_dir.exists() else None
    if full is not None:  # a server that cannot write its log stops: say why
        return full
    where = settings.address
    if not connection_broke(original):  # the server answered: the connection is fine
        return DatabaseUnavailableError(
            f"the server at {where} could not run a call on {settings.database!r} "
            f"({_scrub(first_line(exc), settings)}); nothing was changed: retry later"
        )
    if during_commit:
        return CommitOutcomeUnknownError(
            f"the connection to {where} was lost while COMMIT was on its way; the unit of "
            "work may or may not have been committed: read the rows back before doing "
            "it again, and if it keeps failing run `bot-db check`"
        )
    return ConnectionLostError(
        f"the connection to {where} was lost during a call "
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

    def log(tries: int, exc: Exception) -> None:
        _log.info(
            "%s at %s:%s not ready (try %d): %s",
            what,
            settings.host,
            settings.port,
            tries,
            _scrub(last_line(exc), settings),
        )

    def retry_on(exc: Exception) -> bool:
        return _is_driver_error(exc) and is_retryable(exc)

    seconds = settings.startup_timeout if timeout is None else timeout
    try:
        return retry(attempt, Backoff(seconds, retry_on=retry_on, on_retry=log))
    except Exception as exc:
        if not _is_driver_error(exc):
            raise
        raise translate_connect_error(exc, settings) from None


@contextlib.contextmanager
def connected_engine(settings: Settings, *, url: URL | None = None) -> Iterator[Engine]:
    """An engine whose first connection has been proven, disposed on exit."""
    engine = sync_engine(settings, url=url)
    try:
        try:
            with engine.connect():
                pass
        except Exception as exc:
            if not _is_driver_error(exc):
                raise
            raise translate_connect_error(exc, settings) from None
        yield engine
    finally:
        engine.dispose()
