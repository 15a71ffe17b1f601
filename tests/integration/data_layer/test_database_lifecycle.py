"""Database.connect: the start-up probe, units of work, shutdown, and a server that restarts."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import Connection, text

from bot_persistence import migrations
from bot_persistence.db import Database
from bot_persistence.errors import (
    AuthenticationFailedError,
    ConnectionLostError,
    DatabaseClosedError,
    DatabaseMissingError,
    DatabaseUnavailableError,
    PoolExhaustedError,
    SchemaNotAtHeadError,
    ServerNotRunningError,
    StatementTimeoutError,
)
from bot_persistence.pool import APPLICATION_NAME
from bot_persistence.provision.base import free_port
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.provision.scratch import scratch_root
from bot_persistence.repositories import UserPreferencesRepository
from bot_persistence.settings import Settings
from tests.helpers import PASSWORD, engine_for, make_settings, table_rows, wait_until

USER = 700000000000000001


async def test_connect_probes_and_gives_working_sessions(migrated: Settings) -> None:
    async with Database.connect(migrated) as db:
        async with db.session() as session:
            assert (await session.execute(text("SELECT 41 + 1"))).scalar_one() == 42
            assert (await session.scalar(text("SELECT '100%'"))) == "100%"
            found = await session.execute(text("SELECT :n * 2 WHERE '%' = '%'"), {"n": 21})
            assert found.scalar_one() == 42
        await db.ping()
    assert db.closed


async def test_a_session_used_after_its_block_refuses_instead_of_holding_a_connection(
    db: Database,
) -> None:
    async with db.session() as session:
        await session.execute(text("SELECT 1"))
    checkouts = db.pool.get_stats().get("requests_num")
    with pytest.raises(RuntimeError, match="unit of work has ended"):
        await session.execute(text("SELECT 1"))
    assert db.pool.get_stats().get("requests_num") == checkouts  # no connection taken


async def test_awaiting_connect_opens_and_close_is_idempotent(migrated: Settings) -> None:
    db = await Database.connect(migrated)
    await db.ping()
    await db.close()
    await db.close()
    with pytest.raises(DatabaseClosedError, match=r"Database\.connect"):
        async with db.session():
            pass


async def test_pool_is_sized_from_settings(migrated: Settings) -> None:
    settings = migrated.model_copy(update={"pool_size": 3, "max_overflow": 2})
    async with Database.connect(settings) as db:
        assert (db.pool.min_size, db.pool.max_size) == (3, 5)


async def test_steady_load_opens_no_new_connections(migrated: Settings) -> None:
    settings = migrated.model_copy(update={"pool_size": 2, "max_overflow": 3})
    async with Database.connect(settings) as db:

        async def burst() -> None:
            await asyncio.gather(*(db.ping() for _ in range(20)))

        def opened() -> int:
            return int(db.pool.get_stats().get("connections_num", 0))

        # The pool grows to what the load needs (in the background, so a burst may
        # finish before the connections it asked for are open): until one opens none.
        for _ in range(10):
            before = opened()
            await burst()
            await asyncio.to_thread(
                wait_until,
                lambda: db.pool.get_stats().get("pool_size") == opened(),
                timeout=10,
                what="the connections the pool asked for",
            )
            if opened() == before:
                break
        steady = opened()
        for _ in range(5):
            await burst()
        assert opened() == steady


async def test_an_unmigrated_database_says_to_migrate(settings: Settings) -> None:
    with pytest.raises(SchemaNotAtHeadError, match=r"base \(empty\).*run `bot-db migrate`"):
        await Database.connect(settings)


async def test_migrate_on_startup_brings_an_empty_database_to_head(settings: Settings) -> None:
    settings = settings.model_copy(update={"migrate_on_startup": True})
    async with Database.connect(settings) as db:
        await db.ping()
    assert migrations.current_revision(settings) == migrations.head_revision(settings)


async def test_a_wrong_password_says_to_check_env_and_never_shows_it(migrated: Settings) -> None:
    wrong = migrated.model_copy(update={"postgres_password": SecretStr("not-the-password-xyz")})
    with pytest.raises(AuthenticationFailedError, match="check POSTGRES_PASSWORD") as caught:
        await Database.connect(wrong)
    assert "not-the-password-xyz" not in str(caught.value)
    assert PASSWORD not in str(caught.value)


async def test_a_missing_database_says_to_run_up(migrated: Settings) -> None:
    missing = migrated.model_copy(update={"postgres_db": "no_such_db"})
    with pytest.raises(DatabaseMissingError, match="run `bot-db up`"):
        await Database.connect(missing)


async def test_no_server_is_retried_until_the_deadline_logging_the_first_attempt_then_few(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first failed attempt is logged, then at most one line per interval, no raw tabs."""
    from bot_persistence import db as db_module

    monkeypatch.setattr(db_module, "RETRY_LOG_INTERVAL", 0.5)
    settings = make_settings(free_port(), "bot", startup_timeout=1.6)
    caplog.set_level(logging.WARNING, logger="bot_persistence.db")
    with pytest.raises(ServerNotRunningError, match="run `bot-db up`"):
        await Database.connect(settings)
    lines = [r.getMessage() for r in caplog.records if "not ready yet" in r.getMessage()]
    numbers = [int(line.split("(attempt ")[1].split(",")[0]) for line in lines]
    assert numbers[0] == 1
    assert 2 <= len(lines) <= 4  # 1.6 s at one line per 0.5 s, after the first
    assert numbers[-1] > len(lines)  # attempts went unlogged between the lines
    assert not any(char in line for line in lines for char in "\t\r\n\x1b")


async def test_a_unit_of_work_that_raises_is_rolled_back(db: Database, migrated: Settings) -> None:
    async def failing_unit_of_work() -> None:
        async with db.session() as session:
            await UserPreferencesRepository(session).ensure_user(USER, "ghost")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await failing_unit_of_work()
    assert table_rows(migrated)["users"] == []


async def test_close_lets_work_in_flight_finish_then_refuses_new_work(
    db: Database, migrated: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    started = asyncio.Event()

    async def slow_unit_of_work() -> None:
        async with db.session() as session:
            await UserPreferencesRepository(session).ensure_user(USER, "late")
            started.set()
            await session.execute(text("SELECT pg_sleep(0.3)"))

    caplog.set_level(logging.DEBUG)
    work = asyncio.create_task(slow_unit_of_work())
    await asyncio.wait_for(started.wait(), 5)
    await db.close()
    assert work.done() and work.exception() is None
    assert [row[:2] for row in table_rows(migrated)["users"]] == [(USER, "late")]
    with pytest.raises(DatabaseClosedError):
        async with db.session():
            pass
    noisy = [
        r for r in caplog.records if r.levelno >= logging.WARNING or "closed" in r.getMessage()
    ]
    assert noisy == []


async def test_close_is_bounded_when_work_does_not_finish(
    migrated: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    db = await Database.connect(migrated, shutdown_timeout=0.2)
    started = asyncio.Event()

    async def stuck() -> None:
        async with db.session() as session:
            started.set()
            await session.execute(text("SELECT pg_sleep(2)"))

    work = asyncio.create_task(stuck())
    await asyncio.wait_for(started.wait(), 5)
    loop = asyncio.get_running_loop()
    begun = loop.time()
    await db.close()
    assert loop.time() - begun < 1.5
    assert any("still running after 0.2s" in r.getMessage() for r in caplog.records)
    work.cancel()
    with pytest.raises((asyncio.CancelledError, DatabaseUnavailableError)):
        await work


async def test_a_long_statement_is_cancelled_with_a_typed_error(migrated: Settings) -> None:
    settings = migrated.model_copy(update={"statement_timeout_ms": 100})
    async with Database.connect(settings) as db:
        with pytest.raises(StatementTimeoutError, match="BOT_DB_STATEMENT_TIMEOUT_MS"):
            async with db.session() as session:
                await session.execute(text("SELECT pg_sleep(2)"))
        await db.ping()  # the connection is usable again


async def test_an_exhausted_pool_gives_a_typed_error(migrated: Settings) -> None:
    settings = migrated.model_copy(update={"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2})
    async with Database.connect(settings) as db:
        holding = asyncio.Event()
        release = asyncio.Event()

        async def hold() -> None:
            async with db.session() as session:
                await session.execute(text("SELECT 1"))
                holding.set()
                await release.wait()

        holder = asyncio.create_task(hold())
        await asyncio.wait_for(holding.wait(), 5)
        with pytest.raises(PoolExhaustedError, match="BOT_DB_POOL_SIZE"):
            await db.ping()
        release.set()
        await holder


# -- a server that restarts under a running bot ------------------------------------------


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[EmbeddedCluster]:
    """A server of this module's own, to stop and start without disturbing the shared one."""
    root = Path(tempfile.mkdtemp(prefix="bp-restart-", dir=scratch_root()))
    cluster = EmbeddedCluster(root, port=free_port(), user="bot", password=PASSWORD, durable=False)
    cluster.ensure_initialized()
    cluster.start(timeout=30)
    try:
        yield cluster
    finally:
        cluster.purge()


@pytest.fixture
def restart_settings(own_cluster: EmbeddedCluster) -> Settings:
    own_cluster.start(timeout=30)
    settings = make_settings(own_cluster.port, "postgres", startup_timeout=5, connect_timeout=2)
    migrations.upgrade(settings)
    return settings


async def test_after_the_server_restarts_the_next_call_succeeds(
    own_cluster: EmbeddedCluster, restart_settings: Settings
) -> None:
    async with Database.connect(restart_settings) as db:
        await asyncio.gather(*(db.ping() for _ in range(3)))  # fill the pool
        await asyncio.to_thread(own_cluster.stop)
        await asyncio.to_thread(own_cluster.start, timeout=30)
        await db.ping()
        async with db.session() as session:
            await UserPreferencesRepository(session).ensure_user(USER, "back")


async def test_calls_while_the_server_is_down_fail_fast_with_a_typed_error(
    own_cluster: EmbeddedCluster, restart_settings: Settings
) -> None:
    async with Database.connect(restart_settings) as db:
        await db.ping()
        await asyncio.to_thread(own_cluster.stop)
        try:
            loop = asyncio.get_running_loop()
            begun = loop.time()
            with pytest.raises(ServerNotRunningError, match="run `bot-db up`"):
                await db.ping()
            assert loop.time() - begun < restart_settings.connect_timeout + 1
            # And every call after it: not the pool's timeout once it holds no connection.
            for _ in range(3):
                begun = loop.time()
                with pytest.raises(ServerNotRunningError):
                    await db.ping()
                assert loop.time() - begun < restart_settings.connect_timeout + 1
        finally:
            await asyncio.to_thread(own_cluster.start, timeout=30)
        await db.ping()


def wait_until_running(settings: Settings, query: str) -> None:
    """Block until the server is running ``query`` for someone (deadline 20 s: on a busy
    machine the call first waits for a connection from a pool that is still opening)."""

    def running(conn: Connection) -> bool:
        count = conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE query = :q AND state = 'active'"),
            {"q": query},
        ).scalar_one()
        conn.rollback()  # pg_stat_activity holds still within one transaction: poll in new ones
        return bool(count)

    with engine_for(settings) as engine, engine.connect() as conn:
        wait_until(lambda: running(conn), timeout=20, what=f"the server running {query!r}")


async def test_a_connection_lost_mid_call_gives_a_typed_error(
    own_cluster: EmbeddedCluster, restart_settings: Settings
) -> None:
    async with Database.connect(restart_settings) as db:
        started = asyncio.Event()

        async def long_call() -> None:
            async with db.session() as session:
                started.set()
                await session.execute(text("SELECT pg_sleep(5)"))

        call = asyncio.create_task(long_call())
        await asyncio.wait_for(started.wait(), 5)
        await asyncio.to_thread(wait_until_running, restart_settings, "SELECT pg_sleep(5)")
        await asyncio.to_thread(own_cluster.stop)
        try:
            with pytest.raises(ConnectionLostError, match="lost during a call"):
                await asyncio.wait_for(call, 10)
        finally:
            await asyncio.to_thread(own_cluster.start, timeout=30)
        await db.ping()


def backend_pids(settings: Settings) -> list[int]:
    """The server processes serving the bot's pooled connections now."""
    with psycopg.connect(settings.plain_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (APPLICATION_NAME,)
        ).fetchall()
    return [int(row[0]) for row in rows]


async def test_a_backend_killed_under_load_gives_typed_errors_and_the_pool_recovers(
    restart_settings: Settings,
) -> None:
    """kill -9 of one backend makes PostgreSQL drop every connection and recover: the
    calls in flight fail with our typed errors, later ones succeed on the same
    Database (no restart of the bot), and what was committed before is still there."""
    async with Database.connect(restart_settings) as db:
        async with db.session() as session:
            # The test server runs without synchronous commit (speed, not durability):
            # this one commit waits for its WAL, as every commit does in production.
            await session.execute(text("SET LOCAL synchronous_commit = on"))
            await UserPreferencesRepository(session).ensure_user(USER, "kept")
        errors: list[BaseException] = []
        calls = {"ok": 0}
        stop = asyncio.Event()

        async def worker(volume: int) -> None:
            while not stop.is_set():
                try:
                    async with db.session() as session:
                        await UserPreferencesRepository(session).set(
                            USER, {"preferred_volume": volume}
                        )
                    calls["ok"] += 1
                except DatabaseUnavailableError as exc:
                    errors.append(exc)
                    await asyncio.sleep(0.01)  # wait-ok: paces a load worker

        workers = [asyncio.create_task(worker(n)) for n in range(8)]
        try:
            await asyncio.to_thread(
                wait_until, lambda: calls["ok"] >= 50, timeout=30, what="calls under load"
            )
            victims = await asyncio.to_thread(backend_pids, restart_settings)
            assert victims
            os.kill(victims[0], signal.SIGKILL)
            await asyncio.to_thread(wait_until, lambda: errors, timeout=30, what="a failed call")
            after_errors = calls["ok"]
            await asyncio.to_thread(
                wait_until,
                lambda: calls["ok"] >= after_errors + 50,
                timeout=60,
                what="calls succeeding again after the crash",
            )
        finally:
            stop.set()
            outcomes = await asyncio.gather(*workers, return_exceptions=True)
        assert [o for o in outcomes if o is not None] == []  # nothing untyped escaped
        assert ConnectionLostError in {type(e) for e in errors}  # the calls in flight
        async with db.session() as session:
            assert (await UserPreferencesRepository(session).get(USER)).stored
    rows = table_rows(restart_settings)["users"]
    assert [row[:2] for row in rows] == [(USER, "kept")]
