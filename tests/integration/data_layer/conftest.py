"""Fixtures for the bot's data layer: a migrated database per test, and an open Database.

Migrating costs more than copying: the project's pytest plugin migrates a
template once per run, and each test gets a ``CREATE DATABASE ... TEMPLATE`` copy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from psycopg import pq

from bot_persistence.db import Database
from bot_persistence.settings import Settings
from bot_persistence.testing import TestDatabase
from tests.conftest import table_rows


@pytest.fixture
def migrated(db_factory: Callable[..., TestDatabase]) -> Settings:
    """Settings naming a fresh database at head, of this test's own (cloned from the
    plugin's migrated template), with a pool big enough for the concurrency tests."""
    database = db_factory("migrated")
    return database.settings.model_copy(update={"pool_size": 10, "max_overflow": 5})


@pytest.fixture
async def db(migrated: Settings) -> AsyncIterator[Database]:
    """An open Database on a fresh migrated database; closed after the test."""
    async with Database.connect(migrated) as database:
        yield database


class StatementCounter:
    """Counts the statements a connection sends, read from libpq's protocol trace.

    The wire is the one place every statement passes, whatever builds or runs
    it: each ``Execute`` message (extended protocol, prepared or not) and each
    simple ``Query`` is a statement. Transaction control is not counted.
    """

    _CONTROL = ('"BEGIN"', '"COMMIT"', '"ROLLBACK"')

    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path
        self._seen = 0

    def _all(self) -> int:
        count = 0
        for line in self.path.read_text().splitlines():
            fields = line.split("\t")
            if len(fields) < 3 or fields[0] != "F":
                continue
            control = fields[2] == "Query" and line.endswith(self._CONTROL)
            if fields[2] in ("Execute", "Query") and not control:
                count += 1
        return count

    def reset(self) -> None:
        self._seen = self._all()

    @property
    def count(self) -> int:
        return self._all() - self._seen


@pytest.fixture
async def statements(migrated: Settings, tmp_path: Path) -> AsyncIterator[StatementCounter]:
    """A Database of one traced connection (``statements.db``); ``statements.count`` is
    what it sent since ``reset()``."""
    settings = migrated.model_copy(update={"pool_size": 1, "max_overflow": 0})
    trace = tmp_path / "libpq-trace.txt"
    async with Database.connect(settings) as db:
        with trace.open("w") as sink:
            async with db.pool.connection() as conn:
                conn.pgconn.trace(sink.fileno())
                conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            try:
                yield StatementCounter(db, trace)
            finally:
                async with db.pool.connection() as conn:
                    conn.pgconn.untrace()


#: Every row of every table: to prove a call changed nothing.
snapshot = table_rows
