"""The bot's database: a connection pool, a start-up probe, units of work, shutdown.

``async with Database.connect(settings) as db:`` (or ``db = await
Database.connect(settings)`` ... ``await db.close()`` where the code has no
``async with`` around its lifetime, as in discord.py's ``setup_hook``/``close``)
gives a pool of psycopg 3 connections sized from settings (:mod:`bot_persistence.pool`)
and units of work on it (:mod:`bot_persistence.session`). SQLAlchemy builds and
compiles the statements, once (:mod:`bot_persistence.statements`); each call
runs plain SQL on psycopg, which under the bot's load is most of the speed.

Start-up proves the database usable before the bot goes on: the server answers,
the password is accepted, the database exists and its schema is at head (a
database migrated by newer code, at a revision this code lacks, is named as
such, with the git branch that has the revision outside production). A
server that is still starting is waited for until ``BOT_DB_STARTUP_TIMEOUT``,
with one log line per attempt; anything else fails at once with a typed error
whose message says what to do.

At run time no connection is pinged before use: one that died in the pool (the
server restarted) fails its ``BEGIN``, before anything of the unit ran, and the
unit begins again on a live one; while the server is down a call fails quickly
(``BOT_DB_CONNECT_TIMEOUT``) with
:class:`~bot_persistence.errors.ServerNotRunningError` rather than hang.
Closing waits (boundedly) for units of work in flight, then closes the pool.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import text

from bot_persistence.connection import (
    connect_kwargs,
    is_retryable,
    last_line,
    translate_call_error,
    translate_connect_error,
)
from bot_persistence.errors import (
    DatabaseClosedError,
)
from bot_persistence.pool import Connection, Pool, conninfo
from bot_persistence.project import alembic_ini, package_root, versions_dir
from bot_persistence.retry import DEFAULT_ATTEMPTS, run_retrying
from bot_persistence.schema_version import Revisions, check_schema, read_revision
from bot_persistence.session import Session
from bot_persistence.settings import Settings
from bot_persistence.stats import DatabaseStats
from bot_persistence.waiting import Backoff, retry_async

__all__ = ["DEFAULT_SHUTDOWN_TIMEOUT", "Database", "UnitOfWork", "translate_call_error"]

_log = logging.getLogger(__name__)

#: While the server is not ready at start-up: the first failed attempt is logged,
#: then at most one line this often (seconds).
RETRY_LOG_INTERVAL = 5.0
T = TypeVar("T")

#: Seconds :meth:`Database.close` waits for units of work in flight.
DEFAULT_SHUTDOWN_TIMEOUT = 10.0

_PING = text("SELECT 1")


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
        self._pool = Pool(settings)
        self._units = _UnitsInFlight(settings.database, slow_ms=settings.slow_unit_ms)
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
            revisions = Revisions.read(versions_dir(package_root()))  # parsed once for the probe
            head = revisions.head
            # A database ahead of the code is not migrated: check_schema says why.
            behind = revision is None or revision in revisions.known
            if revision != head and behind and self.settings.migrate_on_startup:
                revision = await self._migrate()
            check_schema(
                revision,
                revisions,
                database=self.settings.database,
                # Only a development checkout asks git where a revision came from.
                development=self.settings.environment != "production",
            )
            await self._pool.open()
        except BaseException:
            await self._pool.close()
            self._units.closing = self._closed = True
            raise

    async def _migrate(self) -> str | None:
        """Migrate to head under the migration lock; the revision the database is at after."""
        # The one place the bot's process loads the migration tooling.
        from bot_persistence.migrations import runner

        # Alembic is synchronous; run it in a thread, under its lock, so that of
        # many shards starting at once exactly one migrates.
        # As the migration role when BOT_DB_MIGRATION_URL names one: the bot's may be DML-only.
        # And by this package's migrations, wherever the bot was started.
        upgrade = functools.partial(
            runner.upgrade, self.settings.for_migrations(), ini=alembic_ini(package_root())
        )
        result = await asyncio.to_thread(upgrade)
        if result.changed:
            _log.info("migrated %s -> %s", result.before or "base", result.after)
        return result.after

    async def _wait_for_server(self) -> str | None:
        """Connect until the server answers (bounded); return the schema revision it holds."""
        settings = self.settings

        async def read() -> str | None:
            # In a transaction, as every unit of work: a pooler that cannot run
            # one (PgBouncer in statement mode) is refused here.
            async with (
                await psycopg.AsyncConnection.connect(
                    conninfo(settings), **connect_kwargs(settings), autocommit=True
                ) as conn,
                conn.transaction(),
            ):
                return await read_revision(conn)

        logged_at: list[float] = []

        def log(attempt: int, exc: Exception) -> None:
            # The first failed attempt, then at most one line every few seconds:
            # a bot waiting on a stopped server must not flood its log.
            now = time.monotonic()
            if logged_at and now - logged_at[-1] < RETRY_LOG_INTERVAL:
                return
            logged_at.append(now)
            _log.warning(
                "PostgreSQL at %s:%s is not ready yet (attempt %d, giving up after %gs): %s",
                settings.host,
                settings.port,
                attempt,
                settings.startup_timeout,
                last_line(exc),
            )

        retry_on = _retryable_driver_error
        backoff = Backoff(settings.startup_timeout, retry_on=retry_on, on_retry=log, most=1.0)
        try:
            return await retry_async(read, backoff)
        except psycopg.Error as exc:
            raise translate_connect_error(exc, settings) from None

    # -- units of work -------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has begun: no new units of work are accepted."""
        return self._units.closing

    @property
    def pool(self) -> AsyncConnectionPool[Connection]:
        """The psycopg ``AsyncConnectionPool`` underneath: for statistics and tests."""
        return self._pool.pool

    def stats(self) -> DatabaseStats:
        """The pool and the units of work now, as plain integers (no round trip).

        For a metrics exporter or a periodic log line (docs/production.md,
        observability): connections held, in use, idle, callers waiting, units
        of work run, failed and slow, connection errors.
        """
        units = self._units
        return DatabaseStats.of(
            self._pool.pool.get_stats(),
            in_use=self._pool.in_use,
            units_running=units.running,
            units_total=units.finished,
            units_failed_total=units.failed,
            units_slow_total=units.slow,
        )

    def session(self) -> UnitOfWork:
        """One unit of work: committed when the block ends, rolled back when it raises.

        ``async with db.session() as session:`` gives a
        :class:`~bot_persistence.session.Session` for the repositories. Driver
        failures (server away, connection lost, pool exhausted, statement
        timeout) come out as our typed errors; a repository error raised inside
        the block rolls back everything the block did.
        """
        return UnitOfWork(self._pool, self._units)

    async def retrying(
        self, work: Callable[[Session], Awaitable[T]], *, attempts: int = DEFAULT_ATTEMPTS
    ) -> T:
        """Run ``await work(session)`` as a unit of work, again after a deadlock or conflict.

        For units that may collide with others (rows locked in varying orders,
        ``SERIALIZABLE`` transactions): a :class:`~bot_persistence.errors.DeadlockError`
        or :class:`~bot_persistence.errors.SerializationError` (``retryable``) rolls
        the unit back, and it runs again in a new one, up to ``attempts`` times in
        all, with a short jittered pause between (:mod:`bot_persistence.retry`)::

            async def add(session: Session) -> None:
                await PlaylistRepository(session).add_track(...)

            await db.retrying(add)
        """
        return await run_retrying(self, work, attempts=attempts)

    # -- shutdown ----------------------------------------------------------------------

    async def close(self, timeout: float | None = None) -> None:
        """Stop taking work, let work in flight finish (bounded), then dispose the pool.

        Safe to call more than once. Work still running after ``timeout`` seconds
        (default ``shutdown_timeout``) is left to fail on its own; the pool is closed
        regardless, so shutdown never hangs.
        """
        if self._closed:
            return
        limit = self.shutdown_timeout if timeout is None else timeout
        await self._units.drain(limit)
        await self._pool.close()
        self._closed = True

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def ping(self) -> None:
        """One round trip: raises our typed error when the database cannot be used now."""
        async with self.session() as session:
            await session.execute(_PING)


def _retryable_driver_error(exc: Exception) -> bool:
    return isinstance(exc, psycopg.Error) and is_retryable(exc)


class _UnitsInFlight:
    """The units of work running now, and whether new ones are admitted (not once closing)."""

    __slots__ = ("closing", "database", "failed", "finished", "idle", "running", "slow", "slow_s")

    def __init__(self, database: str, *, slow_ms: int = 0) -> None:
        self.database = database
        self.closing = False
        self.running = 0
        #: Units finished, those that raised, and those longer than ``slow_s`` seconds.
        self.finished = self.failed = self.slow = 0
        self.slow_s = slow_ms / 1000 if slow_ms else float("inf")
        #: Set while no unit of work runs: what closing waits for.
        self.idle = asyncio.Event()
        self.idle.set()

    def admit(self) -> None:
        """Count a unit of work in; refused once the database is closing."""
        if self.closing:
            raise DatabaseClosedError(
                f"the database connection to {self.database!r} is closed (the bot is shutting "
                "down); open a new one with Database.connect(settings)"
            )
        self.running += 1
        self.idle.clear()

    def release(self, seconds: float, error: BaseException | None) -> None:
        """Count a unit of work out, ``seconds`` after it began; log it when slow."""
        self.running -= 1
        self.finished += 1
        if error is not None:
            self.failed += 1
        if seconds >= self.slow_s:
            self.slow += 1
            _log.warning(
                "slow unit of work on %r: %.0f ms (over BOT_DB_SLOW_UNIT_MS=%.0f)%s",
                self.database,
                seconds * 1000,
                self.slow_s * 1000,
                f", ended by {type(error).__name__}" if error is not None else "",
            )
        if self.running == 0:
            self.idle.set()

    async def drain(self, timeout: float) -> None:
        """Admit no more units of work; wait (at most ``timeout`` seconds) for those running."""
        self.closing = True
        if not self.running:
            return
        _log.info("waiting up to %gs for %d unit(s) of work", timeout, self.running)
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
        except asyncio.TimeoutError:
            _log.warning(
                "%d unit(s) of work still running after %gs; closing the pool anyway",
                self.running,
                timeout,
            )


class UnitOfWork:
    """What :meth:`Database.session` returns: an async context manager around a Session.

    A plain class rather than ``contextlib.asynccontextmanager``: it runs once
    per call of the bot, and a generator-based manager costs several times more.
    The session ends (commits, or rolls back after an error) in :meth:`Session.end`.
    """

    __slots__ = ("_began", "_pool", "_session", "_units")

    def __init__(self, pool: Pool, units: _UnitsInFlight) -> None:
        self._pool = pool
        self._units = units
        self._session: Session | None = None
        self._began = 0.0

    async def __aenter__(self) -> Session:
        self._units.admit()
        self._session = Session(self._pool)
        self._began = time.monotonic()
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        try:
            await self._session.end(exc)
        except BaseException as ended:  # the COMMIT failed: the unit failed
            self._units.release(time.monotonic() - self._began, ended)
            raise
        self._units.release(time.monotonic() - self._began, exc)


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

    async def __aexit__(self, *exc_info: object) -> None:
        await self._database.close()
