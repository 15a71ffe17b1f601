"""The bot's connections: psycopg's own async pool, and how a unit of work gets one.

Why not SQLAlchemy's pool: measured under the bot's load, its checkout with a
ping, its async-to-sync bridge and its overflow connections (closed when
returned, opened again a moment later) cost more than the queries. psycopg's
pool keeps between ``BOT_DB_POOL_SIZE`` and ``BOT_DB_POOL_SIZE +
BOT_DB_MAX_OVERFLOW`` connections, grows when callers wait and gives back only
connections idle for ten minutes, so steady load opens no new connection.

No ping per checkout. A connection that died while it sat in the pool (the
server restarted, a pooler or firewall dropped it) is found when its unit of
work sends ``BEGIN``: that failure means nothing of the unit ran, so the
connection is dropped, the pool checks the others it holds, and the unit begins
again on a live one. A server that is down is found by one direct connect, so
the caller gets :class:`~bot_persistence.errors.ServerNotRunningError` at once
instead of waiting for the pool.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from bot_persistence.connection import (
    application_name,
    connect_kwargs,
    statement_timeout_sql,
    translate_call_error,
    translate_connect_error,
)
from bot_persistence.errors import PoolExhaustedError
from bot_persistence.settings import Settings

__all__ = ["Connection", "Pool", "Transaction", "conninfo", "pool_kwargs"]

_log = logging.getLogger(__name__)

Connection = psycopg.AsyncConnection[tuple[Any, ...]]
Transaction = psycopg.AsyncTransaction

#: How long a call waits for a pooled connection during an outage before connecting itself.
_NO_WAIT = 0.01

#: How the pool names itself in psycopg's log lines, and its connections in
#: ``pg_stat_activity`` unless BOT_DB_APPLICATION_NAME or the URL says otherwise.
APPLICATION_NAME = "bot-persistence"


class PoolConnection(psycopg.AsyncConnection[tuple[Any, ...]]):
    """The pool's connections: a connect that is cancelled stays cancelled.

    psycopg_pool catches a cancelled connect in its worker, logs "error
    connecting" (with an empty reason) and schedules another attempt, so a
    worker cancelled once never ends. That is exactly what ``asyncio.run`` does
    when the bot's main coroutine raises with its ``Database`` still open: it
    cancels every task once and waits for them all, and the process never exits
    (nor restarts under systemd or Docker). Asking for the cancellation again
    makes it land on the worker's next wait, which psycopg_pool does not catch.
    """

    @classmethod
    async def connect(cls, *args: Any, **kwargs: Any) -> PoolConnection:
        try:
            return await super().connect(*args, **kwargs)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.cancel()
            raise


def conninfo(settings: Settings) -> str:
    """The libpq URL of the configured database (with its password: never log it)."""
    return settings.plain_url


def pool_kwargs(settings: Settings) -> dict[str, Any]:
    """Connect arguments of the bot's pooled connections (the benchmark's baseline uses them too).

    ``autocommit`` because each unit of work sends its own ``BEGIN``: that is
    how a connection that died in the pool is told from one lost mid-call.
    """
    return {
        **connect_kwargs(settings),
        "application_name": application_name(settings),
        "autocommit": True,
    }


class Pool:
    """A psycopg ``AsyncConnectionPool`` sized from settings, with our typed errors."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        timeout_sql = statement_timeout_sql(settings)
        #: Sent after ``BEGIN`` in every unit of work (a transaction pooler's timeout).
        self.begin_sql = timeout_sql[1] if timeout_sql and timeout_sql[0] == "begin" else None
        self._connect_sql = timeout_sql[1] if timeout_sql and timeout_sql[0] == "connect" else None
        lifetime = float(settings.pool_recycle) if settings.pool_recycle > 0 else float("inf")
        self.pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            conninfo(settings),
            kwargs=pool_kwargs(settings),
            connection_class=PoolConnection,
            min_size=settings.pool_size,
            max_size=settings.pool_size + settings.max_overflow,
            timeout=settings.pool_timeout,
            max_lifetime=lifetime,
            configure=self._configure if self._connect_sql else None,
            name=application_name(settings),
            open=False,
        )
        #: Connections handed out now, and those of them made outside the pool.
        #: ``_outage``: a pooled connection was found dead and none has served since.
        self._outage = False
        self._in_use = 0
        self._stand_ins: set[Connection] = set()

    @property
    def in_use(self) -> int:
        """Connections handed to units of work now (stand-ins included)."""
        return self._in_use

    async def _configure(self, conn: Connection) -> None:
        """Set the statement timeout once per connection (behind a session pooler)."""
        assert self._connect_sql is not None
        await conn.execute(self._connect_sql)

    async def open(self) -> None:
        """Start filling the pool in the background; callers wait for the first connection."""
        await self.pool.open(wait=False)

    async def close(self) -> None:
        """Close the idle connections now, the busy ones when they come back."""
        await self.pool.close()

    async def begin(self) -> tuple[Connection, Transaction]:
        """A connection with a transaction begun on it; a dead pooled one is replaced once."""
        # In an outage the pool holds no live connection and reconnects with a
        # growing back-off: waiting BOT_DB_POOL_TIMEOUT for it would make every
        # call slow to fail. Take an idle one if there is one, else connect directly:
        # that fails within BOT_DB_CONNECT_TIMEOUT, or works as soon as the server does.
        conn = await self._checkout(timeout=_NO_WAIT if self._outage else None)
        try:
            transaction = await self._begin_on(conn)
        except psycopg.OperationalError as exc:
            if not conn.broken:
                raise self._call_error(exc) from exc
            return await self._replace_dead()
        if self._outage and conn not in self._stand_ins:
            self._outage = False  # the pool serves again
        return conn, transaction

    async def _replace_dead(self) -> tuple[Connection, Transaction]:
        """Begin on a live connection after one from the pool was found dead."""
        _log.info("a pooled connection was dead (the server restarted?); replacing it")
        self._outage = True
        await (await self._connect()).close()  # our typed error now if the server is away
        await self.pool.check()
        conn = await self._checkout(timeout=min(1.0, self.settings.pool_timeout))
        try:
            return conn, await self._begin_on(conn)
        except psycopg.OperationalError as exc:
            raise self._call_error(exc) from exc

    async def _checkout(self, timeout: float | None = None) -> Connection:
        """A connection from the pool, or a stand-in when the pool cannot serve one in time."""
        try:
            conn = await self.pool.getconn(timeout)
        except PoolTimeout:
            conn = await self._stand_in()
        self._in_use += 1
        return conn

    async def _begin_on(self, conn: Connection) -> Transaction:
        """``BEGIN`` on ``conn``; when that fails (or is cancelled) the connection goes back."""
        transaction = Transaction(conn)
        try:
            # psycopg's transaction block sends BEGIN now (the connection is in
            # autocommit mode), through its light command path rather than a cursor.
            await transaction.__aenter__()
            if self.begin_sql:
                await conn.execute(self.begin_sql)
        except BaseException:
            await self._give_back(conn)
            raise
        return transaction

    async def end(
        self, conn: Connection, transaction: Transaction, error: BaseException | None
    ) -> None:
        """``COMMIT`` (``ROLLBACK`` after ``error``) and give the connection back, always.

        The one place a unit of work of the bot commits.
        """
        try:
            if error is None:
                try:
                    await transaction.__aexit__(None, None, None)
                except psycopg.OperationalError as exc:
                    # Lost now, the COMMIT may have reached the server: outcome unknown.
                    raise self._call_error(exc, during_commit=True) from exc
            elif not conn.broken:
                # psycopg logs, and does not raise, a rollback that fails.
                await transaction.__aexit__(type(error), error, error.__traceback__)
        finally:
            await self._give_back(conn)

    async def _give_back(self, conn: Connection) -> None:
        self._in_use -= 1
        if self._stand_ins and conn in self._stand_ins:
            self._stand_ins.discard(conn)
            await conn.close()
        else:
            await self.pool.putconn(conn)

    async def _stand_in(self) -> Connection:
        """A connection for a unit of work the pool could not serve in time.

        With every pooled connection in use that is :class:`PoolExhaustedError`.
        With room in the pool the pool is failing to connect: the server is away
        (our typed error, from one direct connect), or it came back while the
        pool waits out its back-off between attempts (up to half a minute after
        a long outage); then the unit runs on a connection of its own, closed
        after it, so the bot's calls work again as soon as the server does.
        """
        settings = self.settings
        if self._in_use >= settings.pool_size + settings.max_overflow:
            await (await self._connect()).close()  # a server that is away says so instead
            raise PoolExhaustedError(
                f"all {settings.pool_size + settings.max_overflow} pooled connections to "
                f"{settings.address} stayed busy for {settings.pool_timeout:g}s; "
                "look for units of work that do not finish, or raise BOT_DB_POOL_SIZE"
            )
        conn = await self._connect()
        self._stand_ins.add(conn)
        return conn

    def _call_error(
        self, exc: psycopg.OperationalError, *, during_commit: bool = False
    ) -> BaseException:
        return translate_call_error(exc, self.settings, during_commit=during_commit) or exc

    async def _connect(self) -> Connection:
        """A connection made directly, as the pool makes them; our typed error when it fails."""
        try:
            conn = await psycopg.AsyncConnection.connect(
                conninfo(self.settings), **pool_kwargs(self.settings)
            )
        except psycopg.OperationalError as exc:
            self._outage = True
            raise translate_connect_error(exc, self.settings) from None
        if self._connect_sql:
            await conn.execute(self._connect_sql)
        return conn
