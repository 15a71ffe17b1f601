"""The bot's units of work through PgBouncer in transaction mode (BOT_DB_POOLER=transaction)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text

from bot_persistence.db import Database
from bot_persistence.errors import StatementTimeoutError
from bot_persistence.provision.pgbouncer import pgbouncer_binary, throwaway_pgbouncer
from bot_persistence.repositories import UserPreferencesRepository
from bot_persistence.settings import Settings
from bot_persistence.testing import TestDatabase

USER = 710000000000000001


@pytest.fixture
def through(db_factory: Callable[..., TestDatabase]) -> Iterator[Settings]:
    """Settings reaching a migrated database of the test's own through PgBouncer."""
    if pgbouncer_binary() is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer)")
    direct = db_factory("migrated").settings
    with throwaway_pgbouncer(direct, pool_mode="transaction", pool_size=2) as settings:
        yield settings.model_copy(update={"pool_size": 3, "statement_timeout_ms": 300})


async def test_the_statement_timeout_holds_in_every_transaction(through: Settings) -> None:
    async with Database.connect(through) as db:
        for _ in range(3):  # each unit of work may land on another server connection
            with pytest.raises(StatementTimeoutError, match="BOT_DB_STATEMENT_TIMEOUT_MS"):
                async with db.session() as session:
                    await session.execute(text("SELECT pg_sleep(2)"))
        async with db.session() as session:
            timeout = (await session.execute(text("SHOW statement_timeout"))).scalar_one()
        assert timeout == "300ms"


async def test_repeated_calls_prepare_no_statement_on_the_server(through: Settings) -> None:
    async with Database.connect(through) as db:
        async with db.session() as session:
            await UserPreferencesRepository(session).ensure_user(USER, "pooled")
        # psycopg would prepare a statement after its fifth run on a connection; two
        # server connections behind three client ones would then miss it.
        for volume in range(30):
            async with db.session() as session:
                repo = UserPreferencesRepository(session)
                await repo.set(USER, {"preferred_volume": volume})
                assert (await repo.get(USER)).preferred_volume == volume
