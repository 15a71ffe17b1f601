"""Fixtures for the bot's data layer: a migrated database per test, and an open Database.

Migrating costs more than copying: the project's pytest plugin migrates a
template once per run, and each test gets a ``CREATE DATABASE ... TEMPLATE`` copy.
The plugin opens the ``Database`` (``bot_db_database``); this folder only says
which database and pool it wants (``bot_db_settings``), and names them shortly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from psycopg import pq

from bot_persistence.db import Database
from bot_persistence.settings import Settings
from bot_persistence.testing import TestDatabase
from tests.helpers import StatementCounter


@pytest.fixture
def bot_db_settings(db_factory: Callable[..., TestDatabase]) -> Settings:
    """The plugin's override point: a fresh database at head of this test's own (cloned
    from the migrated template), with a pool big enough for the concurrency tests."""
    database = db_factory("migrated")
    return database.settings.model_copy(update={"pool_size": 10, "max_overflow": 5})


@pytest.fixture
def migrated(bot_db_settings: Settings) -> Settings:
    """The settings of this test's database (the plugin's ``bot_db_settings``)."""
    return bot_db_settings


@pytest.fixture
def db(bot_db_database: Database) -> Database:
    """An open Database on this test's database (the plugin's ``bot_db_database``)."""
    return bot_db_database


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
