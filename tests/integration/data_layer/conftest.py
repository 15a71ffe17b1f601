"""Fixtures for the bot's data layer: a migrated database per test, and an open Database.

Migrating costs more than copying: the project's pytest plugin migrates a
template once per run, and each test gets a ``CREATE DATABASE ... TEMPLATE`` copy.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from sqlalchemy import event

from bot_persistence.db import Database
from bot_persistence.settings import Settings
from bot_persistence.testing import TestDatabase
from tests.helpers import StatementCounter


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


@pytest.fixture
def statements(db: Database) -> Iterator[StatementCounter]:
    """Every statement ``db`` sends from now on (pings of the pool included)."""
    counter = StatementCounter()
    event.listen(db.engine.sync_engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", counter)
