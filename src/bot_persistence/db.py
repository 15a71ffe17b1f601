"""The bot's database: a pooled async engine, a start-up probe, units of work, shutdown.

``async with Database.connect(settings) as db:`` (or ``db = await
Database.connect(settings)`` ... ``await db.close()`` where the code has no
``async with`` around its lifetime, as in discord.py's ``setup_hook``/``close``)
gives an async SQLAlchemy engine on psycopg 3 whose pool is sized from settings.

Start-up proves the database usable before the bot goes on: the server answers,
the password is accepted, the database exists and its schema is at head (a
database migrated by newer code, at a revision this code lacks, is named as
such, with the git branch that has the revision outside production). A
server that is still starting is waited for until ``BOT_DB_STARTUP_TIMEOUT``,
with one log line per attempt; anything else fails at once with a typed error
whose message says what to do.

At run time the pool pings a connection before handing it out, so after the
server restarts the next unit of work gets a fresh connection instead of a dead
one; while the server is down a call fails quickly (``BOT_DB_CONNECT_TIMEOUT``)
with :class:`~bot_persistence.errors.ServerNotRunningError` rather than hang.
Closing waits (boundedly) for units of work in flight, then disposes the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Generator
from types import TracebackType
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot_persistence.connection import (
    apply_statement_timeout,
    connect_kwargs,
    driver_message,
    is_retryable,
    last_line,
    translate_connect_error,
)
from bot_persistence.errors import (
    BotPersistenceError,
    ConnectionLostError,
    DatabaseClosedError,
    PoolExhaustedError,
    StatementTimeoutError,
)
from bot_persistence.project import versions_dir
from bot_persistence.schema_version import (
    check_schema,
    database_revision,
    known_revisions,
    single_head,
)
from bot_persistence.settings import Settings

__all__ = ["DEFAULT_SHUTDOWN_TIMEOUT", "Database", "create_engine", "translate_call_error"]

_log = logging.getLogger(__name__)

#: Seconds :meth:`Database.close` waits for units of work in flight.
DEFAULT_SHUTDOWN_TIMEOUT = 10.0

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


def create_engine(settings: Settings) -> AsyncEngine:
    """The bot's async engine: pool sized from settings, pre-ping, timeouts on every session.

    ``BOT_DB_POOLER`` decides how prepared statements and the statement timeout
    are handled (:func:`bot_persistence.connection.connect_kwargs`).
    """
    connect_args: dict[str, Any] = {
        **connect_kwargs(settings),
        "application_name": "bot-persistence",
    }
    engine = create_async_engine(
        settings.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=settings.pool_recycle,
        # One cheap round trip per checkout buys recovery from a server restart:
        # a dead connection is replaced instead of failing the bot's call.
        pool_pre_ping=True,
        connect_args=connect_args,
    )
    apply_statement_timeout(engine.sync_engine, settings)
    return engine


def translate_call_error(exc: BaseException, settings: Settings) -> BotPersistenceError | None:
    """Our typed error for a driver or pool failure during a call; ``None`` for anything else.

    Constraint and data errors are not handled here: the repositories know what
    they mean. This covers the server being away, slow, or out of connections.
    """
    if isinstance(exc, PoolTimeoutError):
        return PoolExhaustedError(
            f"all {settings.pool_size + settings.max_overflow} pooled connections to "
            f"{settings.host}:{settings.port} stayed busy for {settings.pool_timeout:g}s; "
            "look for units of work that do not finish, or raise BOT_DB_POOL_SIZE"
        )
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(original, psycopg.errors.QueryCanceled):
        return StatementTimeoutError(
            f"a statement on {settings.database!r} ran longer than "
            f"{settings.statement_timeout_ms} ms and was cancelled; nothing was changed: "
            "look for a missing index or raise BOT_DB_STATEMENT_TIMEOUT_MS"
        )
    if not isinstance(original, psycopg.OperationalError):
        return None
    lowered = driver_message(exc).lower()
    if any(phrase in lowered for phrase in _CONNECT_FAILURES):
        return translate_connect_error(exc, settings)
    return ConnectionLostError(
        f"the connection to {settings.host}:{settings.port} was lost during a call "
        "(the server restarted or went away); nothing was changed: retry, and if it "
        "keeps failing run `bot-db check`"
    )


class Database:
    """The bot's pooled connection to PostgreSQL; open it with :meth:`connect`.

    Use :meth:`session` for each unit of work: it commits when the block ends
    normally and rolls back when it raises, so a failed call changes nothing.
    """

    def __init__(
        self, settings: Settings, *, shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    ) -> None:
        self.settings = settings
        self.shutdown_timeout = shutdown_timeout
        self.engine = create_engine(settings)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._closed = False

    @classmethod
    def connect(
        cls, settings: Settings, *, shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    ) -> _Opening:
        """Open and probe the database: ``async with Database.connect(s) as db`` or ``await``.

        With ``async with`` the pool is closed when the block ends; with ``await``
        the caller closes it with :meth:`close`.
        """
        return _Opening(cls(settings, shutdown_timeout=shutdown_timeout))

    # -- start-up ----------------------------------------------------------------

    async def start(self) -> None:
        """Probe the database (migrating first when settings say so); close on failure."""
        try:
            revision = await self._wait_for_server()
            versions = versions_dir()
            head = single_head(versions)
            # A database ahead of the code is not migrated: check_schema says why.
            behind = revision is None or revision in known_revisions(versions)
            if revision != head and behind and self.settings.migrate_on_startup:
                revision = await self._migrate()
            check_schema(
                revision,
                versions,
                database=self.settings.database,
                # Only a development checkout asks git where a revision came from.
                consult_git=self.settings.environment != "production",
            )
        except BaseException:
            await self.engine.dispose()
            self._closed = self._closing = True
            raise

    async def _migrate(self) -> str | None:
        """Migrate to head under the migration lock; the revision the database is at after."""
        # The one place the bot's process loads the migration tooling.
        from bot_persistence.migrations import runner

        # Alembic is synchronous; run it in a thread, under its lock, so that of
        # many shards starting at once exactly one migrates.
        result = await asyncio.to_thread(runner.upgrade, self.settings)
        if result.changed:
            _log.info("migrated %s -> %s", result.before or "base", result.after)
        return result.after

    async def _wait_for_server(self) -> str | None:
        """Connect until the server answers (bounded); return the schema revision it holds."""
        settings = self.settings
        deadline = time.monotonic() + settings.startup_timeout
        delay = 0.05
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.engine.connect() as conn:
                    return await conn.run_sync(database_revision)
            except DBAPIError as exc:
                if not is_retryable(exc) or time.monotonic() + delay > deadline:
                    raise translate_connect_error(exc, settings) from None
                _log.warning(
                    "PostgreSQL at %s:%s is not ready yet (attempt %d, giving up after %gs): %s",
                    settings.host,
                    settings.port,
                    attempt,
                    settings.startup_timeout,
                    last_line(exc),
                )
            # Back-off between attempts at a condition, bounded by the deadline.
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    # -- units of work -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has begun: no new units of work are accepted."""
        return self._closing

    @property
    def in_flight(self) -> int:
        """Units of work running now."""
        return self._in_flight

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends, rolled back when it raises.

        Driver failures (server away, connection lost, pool exhausted, statement
        timeout) come out as our typed errors; a repository error raised inside
        the block rolls back everything the block did.
        """
        if self._closing:
            raise DatabaseClosedError(
                f"the database connection to {self.settings.database!r} is closed (the bot "
                "is shutting down); open a new one with Database.connect(settings)"
            )
        self._in_flight += 1
        self._idle.clear()
        try:
            async with self._sessions() as session:
                try:
                    yield session
                    await session.commit()
                except BaseException:
                    with contextlib.suppress(DBAPIError, psycopg.Error):
                        # A lost connection cannot roll back; the server already did.
                        await session.rollback()
                    raise
        except (DBAPIError, PoolTimeoutError) as exc:
            translated = translate_call_error(exc, self.settings)
            if translated is None:
                raise
            raise translated from exc
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    # -- shutdown ----------------------------------------------------------------------

    async def close(self, timeout: float | None = None) -> None:
        """Stop taking work, let work in flight finish (bounded), then dispose the pool.

        Safe to call more than once. Work still running after ``timeout`` seconds
        (default ``shutdown_timeout``) is left to fail on its own; the pool is closed
        regardless, so shutdown never hangs.
        """
        if self._closed:
            return
        self._closing = True
        limit = self.shutdown_timeout if timeout is None else timeout
        if self._in_flight:
            _log.info("waiting up to %gs for %d unit(s) of work", limit, self._in_flight)
            try:
                await asyncio.wait_for(self._idle.wait(), limit)
            except asyncio.TimeoutError:
                _log.warning(
                    "%d unit(s) of work still running after %gs; closing the pool anyway",
                    self._in_flight,
                    limit,
                )
        await self.engine.dispose()
        self._closed = True

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def ping(self) -> None:
        """One round trip: raises our typed error when the database cannot be used now."""
        async with self.session() as session:
            await session.execute(text("SELECT 1"))


class _Opening:
    """What :meth:`Database.connect` returns: awaitable, and an async context manager."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def _open(self) -> Database:
        await self._database.start()
        return self._database

    def __await__(self) -> Generator[Any, None, Database]:
        return self._open().__await__()

    async def __aenter__(self) -> Database:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._database.close()
