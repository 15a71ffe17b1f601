"""Errors named for what the server did: each provoked for real, on a real server.

A lock not granted in time, a deadlock between two units of work, a
serialization failure between two SERIALIZABLE transactions, a role without
its GRANT, and a connection lost while COMMIT was on its way.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from bot_persistence.db import Database
from bot_persistence.errors import (
    CommitOutcomeUnknownError,
    DeadlockError,
    InsufficientPrivilegeError,
    LockTimeoutError,
    SerializationError,
)
from bot_persistence.pool import APPLICATION_NAME
from bot_persistence.session import Session
from bot_persistence.settings import Settings
from tests.helpers import wait_until

BUMP = text("UPDATE counters SET n = n + 1 WHERE id = :id")
READ = text("SELECT n FROM counters WHERE id = :id")
SERIALIZABLE = text("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")


@pytest.fixture
def counters(migrated: Settings) -> Settings:
    """The test's database with a table ``counters`` of two rows (ids 1 and 2, n = 0)."""
    with psycopg.connect(migrated.plain_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)")
        conn.execute("INSERT INTO counters VALUES (1, 0), (2, 0)")
    return migrated


@pytest.fixture
async def counters_db(counters: Settings) -> AsyncIterator[Database]:
    async with Database.connect(counters) as db:
        yield db


def counts(settings: Settings) -> dict[int, int]:
    with psycopg.connect(settings.plain_url) as conn:
        return dict(conn.execute("SELECT id, n FROM counters").fetchall())


async def test_a_lock_held_past_lock_timeout_is_a_lock_timeout(
    counters: Settings, counters_db: Database
) -> None:
    async with await psycopg.AsyncConnection.connect(counters.plain_url) as holder:
        await holder.execute("LOCK TABLE counters IN ACCESS EXCLUSIVE MODE")
        loop = asyncio.get_running_loop()
        begun = loop.time()

        async def read_with_a_short_lock_timeout() -> None:
            async with counters_db.session() as session:
                await session.execute(text("SET LOCAL lock_timeout = 200"))
                await session.execute(READ, {"id": 1})

        with pytest.raises(LockTimeoutError, match="lock_timeout") as caught:
            await read_with_a_short_lock_timeout()
        assert loop.time() - begun < 2
        assert not caught.value.retryable
    await counters_db.ping()  # the connection went back usable


async def test_a_real_deadlock_is_a_retryable_deadlock_error(
    counters: Settings, counters_db: Database
) -> None:
    first_locked = {1: asyncio.Event(), 2: asyncio.Event()}

    async def bump_both(first: int, second: int) -> None:
        async with counters_db.session() as session:
            await session.execute(BUMP, {"id": first})
            first_locked[first].set()
            await first_locked[second].wait()
            await session.execute(BUMP, {"id": second})

    outcomes = await asyncio.wait_for(
        asyncio.gather(bump_both(1, 2), bump_both(2, 1), return_exceptions=True), 20
    )
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 1, outcomes
    assert isinstance(errors[0], DeadlockError) and errors[0].retryable
    assert "Database.retrying" in str(errors[0])
    assert counts(counters) == {1: 1, 2: 1}  # the cancelled unit changed nothing


async def test_retrying_runs_a_deadlocked_unit_again_until_both_succeed(
    counters: Settings, counters_db: Database
) -> None:
    first_locked = {1: asyncio.Event(), 2: asyncio.Event()}
    runs = {1: 0, 2: 0}

    def bump_both(first: int, second: int) -> object:
        async def work(session: Session) -> None:
            runs[first] += 1
            await session.execute(BUMP, {"id": first})
            first_locked[first].set()
            await first_locked[second].wait()
            await session.execute(BUMP, {"id": second})

        return counters_db.retrying(work)

    await asyncio.wait_for(asyncio.gather(bump_both(1, 2), bump_both(2, 1)), 20)  # type: ignore[call-overload]
    assert sorted(runs.values()) == [1, 2]  # one ran twice: its first run was the victim
    assert counts(counters) == {1: 2, 2: 2}


async def test_two_serializable_transactions_give_a_retryable_serialization_error(
    counters: Settings, counters_db: Database
) -> None:
    async def read_then_write_after_another_wrote() -> None:
        async with counters_db.session() as late:
            await late.execute(SERIALIZABLE)
            await late.execute(READ, {"id": 1})
            async with counters_db.session() as early:
                await early.execute(SERIALIZABLE)
                await early.execute(READ, {"id": 1})
                await early.execute(BUMP, {"id": 1})
            await late.execute(BUMP, {"id": 1})  # the row changed since `late` read it

    with pytest.raises(SerializationError, match=r"Database\.retrying") as caught:
        await read_then_write_after_another_wrote()
    assert caught.value.retryable
    assert counts(counters) == {1: 1, 2: 0}


async def test_retrying_runs_a_serialization_failure_again(
    counters: Settings, counters_db: Database
) -> None:
    runs = 0

    async def work(session: Session) -> int:
        nonlocal runs
        runs += 1
        await session.execute(SERIALIZABLE)
        value = int((await session.execute(READ, {"id": 1})).scalar_one())
        if runs == 1:  # another unit changes the row between this one's read and write
            async with counters_db.session() as other:
                await other.execute(BUMP, {"id": 1})
        await session.execute(BUMP, {"id": 1})
        return value

    assert await counters_db.retrying(work) == 1
    assert runs == 2
    assert counts(counters) == {1: 2, 2: 0}


@pytest.fixture
def role_without_grants(counters: Settings) -> Iterator[Settings]:
    """Settings of a login role that may connect to the test's database and nothing more."""
    role = f"bot_nogrant_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    with psycopg.connect(counters.plain_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        conn.execute(f"REVOKE ALL ON SCHEMA public FROM {role}")
    try:
        yield counters.model_copy(
            update={"postgres_user": role, "postgres_password": SecretStr(password)}
        )
    finally:
        with psycopg.connect(counters.plain_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


async def test_a_role_without_grants_is_told_which_grant_is_missing(
    counters: Settings, role_without_grants: Settings
) -> None:
    role = role_without_grants.user
    with pytest.raises(InsufficientPrivilegeError, match=f"TO {role} ") as caught:
        await Database.connect(role_without_grants)
    assert "GRANT SELECT" in str(caught.value)
    assert "alembic_version" in str(caught.value)  # the server's words name the table
    assert role_without_grants.password not in str(caught.value)

    with psycopg.connect(counters.plain_url, autocommit=True) as conn:
        conn.execute(f"GRANT SELECT ON alembic_version, counters TO {role}")
    async with Database.connect(role_without_grants) as db:
        with pytest.raises(InsufficientPrivilegeError, match="GRANT UPDATE") as caught:
            async with db.session() as session:
                await session.execute(BUMP, {"id": 1})
        assert "counters" in str(caught.value)
        await db.ping()
    assert counts(counters) == {1: 0, 2: 0}


async def test_a_connection_lost_during_commit_says_the_outcome_is_unknown(
    counters: Settings, counters_db: Database
) -> None:
    # A deferred trigger runs at COMMIT: it keeps the COMMIT busy long enough to
    # end the connection while COMMIT is on its way.
    with psycopg.connect(counters.plain_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(20); RETURN NULL; END $$"
        )
        conn.execute(
            "CREATE CONSTRAINT TRIGGER slow AFTER UPDATE ON counters "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()"
        )

    async def update() -> None:
        async with counters_db.session() as session:
            await session.execute(BUMP, {"id": 1})

    call = asyncio.create_task(update())

    def committing_pid() -> int | None:
        with psycopg.connect(counters.plain_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                "AND query = 'COMMIT' AND state = 'active'",
                (APPLICATION_NAME,),
            ).fetchone()
        return None if row is None else int(row[0])

    await asyncio.to_thread(
        wait_until, lambda: committing_pid() is not None, timeout=20, what="COMMIT running"
    )
    with psycopg.connect(counters.plain_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (committing_pid(),))
    with pytest.raises(CommitOutcomeUnknownError, match="may or may not have been committed"):
        await asyncio.wait_for(call, 20)
    await counters_db.ping()  # the next unit gets a live connection
