"""One unit of work: statements run on one pooled connection, in one transaction.

:meth:`bot_persistence.Database.session` hands a :class:`Session` to the block;
the repositories (and any caller with a SQLAlchemy Core statement or ``text()``)
send statements through :meth:`Session.execute`. The connection is taken from
the pool and ``BEGIN`` sent at the first statement, so a block that sends none
costs nothing; the transaction ends when the block does.

Rows are psycopg's own: plain tuples, read by position or unpacked. What
SQLAlchemy would convert (an enum label into its member) is converted; nothing
else is wrapped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import psycopg
from psycopg import pq
from sqlalchemy.sql import ClauseElement

from bot_persistence.connection import translate_call_error
from bot_persistence.pool import Connection, Transaction
from bot_persistence.settings import Settings
from bot_persistence.statements import compiled

__all__ = ["Result", "Row", "Session", "Transactions"]

Row = tuple[Any, ...]

_TUPLES_OK = pq.ExecStatus.TUPLES_OK


class Result:
    """The rows a statement returned, read at once (as SQLAlchemy's buffered results are)."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        #: Rows the statement changed (or returned), as the server counted them.
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def all(self) -> list[Row]:
        """Every row."""
        return self._rows

    def first(self) -> Row | None:
        """The first row, ``None`` when there is none."""
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Row | None:
        """The one row, ``None`` when there is none; an error for more than one."""
        if len(self._rows) > 1:
            raise ValueError(f"expected at most one row, the statement returned {len(self._rows)}")
        return self._rows[0] if self._rows else None

    def one(self) -> Row:
        """The one row; an error for none or several."""
        if len(self._rows) != 1:
            raise ValueError(f"expected one row, the statement returned {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any:
        """The first column of the first row, ``None`` when there is none."""
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        """The first column of the one row."""
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        """The first column of the one row, ``None`` when there is none."""
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalars(self) -> list[Any]:
        """The first column of every row."""
        return [row[0] for row in self._rows]


class Transactions(Protocol):
    """Where a session's transaction comes from: the bot's :class:`~bot_persistence.pool.Pool`.

    The pytest plugin's ``bot_db_session`` gives a savepoint on one test
    connection instead, so repositories run in a test as they do in the bot.
    """

    settings: Settings

    async def begin(self) -> tuple[Connection, Transaction]:
        """A connection with a transaction begun on it."""

    async def end(
        self, conn: Connection, transaction: Transaction, error: BaseException | None
    ) -> None:
        """Commit (roll back after ``error``) and give the connection back."""


class Session:
    """One unit of work; get it from :meth:`bot_persistence.Database.session`."""

    __slots__ = ("_conn", "_ended", "_pool", "_transaction")

    def __init__(self, pool: Transactions) -> None:
        self._pool = pool
        self._conn: Connection | None = None
        self._transaction: Transaction | None = None
        #: Set when the ``async with`` block ends: a statement after it would begin a
        #: transaction nobody ends, holding a pooled connection for good.
        self._ended = False

    async def execute(
        self, statement: ClauseElement, params: Mapping[str, Any] | None = None
    ) -> Result:
        """Run ``statement`` (SQLAlchemy Core or ``text()``) with ``params``; read its rows.

        A lost connection, a timeout, a deadlock or a missing privilege comes out
        as our typed error; a constraint or data error as psycopg's, for the
        caller to translate.
        """
        prepared = compiled(statement, params)
        conn = self._conn or await self.begin()
        try:
            cursor = await conn.execute(prepared.sql, prepared.parameters(params))
            # The result's status, not cursor.description: that builds column objects.
            result = cursor.pgresult
            if result is not None and result.status == _TUPLES_OK:
                return Result(prepared.rows(await cursor.fetchall()), cursor.rowcount)
        except psycopg.Error as exc:
            typed = translate_call_error(exc, self._pool.settings, statement=prepared.sql)
            if typed is None:  # a constraint or data error: the repository's to name
                raise
            raise typed from exc
        return Result([], cursor.rowcount)

    @property
    def settings(self) -> Settings:
        """The settings of the Database this unit of work came from (limits a call obeys)."""
        return self._pool.settings

    async def scalar(
        self, statement: ClauseElement, params: Mapping[str, Any] | None = None
    ) -> Any:
        """The first column of the first row ``statement`` returns (``None`` for no row)."""
        return (await self.execute(statement, params)).scalar()

    async def begin(self) -> Connection:
        """Take a pooled connection and send ``BEGIN``; the first statement does this itself.

        Begun once: a second call returns the same connection. After :meth:`end`
        it refuses, since a transaction begun then would have nobody to end it.
        """
        if self._conn is not None:
            return self._conn
        if self._ended:
            raise RuntimeError(
                "this unit of work has ended; run statements inside `async with db.session()`"
            )
        self._conn, self._transaction = await self._pool.begin()
        return self._conn

    async def end(self, error: BaseException | None = None) -> None:
        """End the unit of work: commit (roll back after ``error``) if it began, give back.

        No statement runs on this session after it.
        """
        self._ended = True
        conn, transaction = self._conn, self._transaction
        if conn is not None and transaction is not None:
            self._conn = self._transaction = None
            await self._pool.end(conn, transaction, error)
