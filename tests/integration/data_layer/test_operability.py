"""Operating the bot: connections named per shard, the URL's own parameters kept,
statistics for metrics, and a log line for a slow unit of work."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr
from sqlalchemy import text

from bot_persistence.connection import sync_engine
from bot_persistence.db import Database
from bot_persistence.settings import Settings

NAME = text("SELECT current_setting('application_name')")


async def test_each_shard_names_its_connections_for_pg_stat_activity(migrated: Settings) -> None:
    shard = migrated.model_copy(update={"application_name": "music-bot/shard-3"})
    async with Database.connect(shard) as db, db.session() as session:
        assert await session.scalar(NAME) == "music-bot/shard-3"


async def test_the_urls_application_name_and_options_are_kept(migrated: Settings) -> None:
    url = (
        migrated.plain_url
        + "?application_name=from-the-url&options=-c%20search_path%3Dpublic%2Cpg_catalog"
    )
    settings = migrated.model_copy(
        update={"database_url": SecretStr(url), "statement_timeout_ms": 12345}
    )
    async with Database.connect(settings) as db, db.session() as session:
        assert await session.scalar(NAME) == "from-the-url"
        assert await session.scalar(text("SHOW search_path")) == "public,pg_catalog"
        assert await session.scalar(text("SHOW statement_timeout")) == "12345ms"


def test_the_tools_connections_are_told_from_the_bots(migrated: Settings) -> None:
    engine = sync_engine(migrated)
    try:
        with engine.connect() as conn:
            assert conn.execute(NAME).scalar_one() == "bot-persistence bot-db"
    finally:
        engine.dispose()


async def test_stats_count_units_failed_and_slow_ones_with_a_log_line(
    migrated: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = migrated.model_copy(update={"slow_unit_ms": 150, "pool_size": 2})
    async with Database.connect(settings) as db:
        await db.ping()

        async def failing_unit() -> None:
            async with db.session() as session:
                await session.execute(text("SELECT 1"))
                raise ValueError("on purpose")

        with pytest.raises(ValueError, match="on purpose"):
            await failing_unit()
        with caplog.at_level(logging.WARNING, logger="bot_persistence.db"):
            async with db.session() as session:
                await session.execute(text("SELECT pg_sleep(0.2)"))
        stats = db.stats()
        assert stats.units_total == 3
        assert stats.units_failed_total == 1
        assert stats.units_slow_total == 1
        assert stats.units_running == 0 and stats.in_use == 0
        assert stats.pool_min == 2 and stats.pool_max == 2 + settings.max_overflow
        assert stats.pool_size >= 1
        assert set(stats.as_dict()) >= {"pool_size", "in_use", "waiting", "units_slow_total"}
    slow = [r.getMessage() for r in caplog.records if "slow unit of work" in r.getMessage()]
    assert len(slow) == 1 and "BOT_DB_SLOW_UNIT_MS=150" in slow[0]
