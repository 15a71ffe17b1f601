"""A deploy behind a long transaction never stalls the bot: lock timeout, retries, one line.

The classic lock-queue outage: a long read transaction holds a table, a
migration's ALTER TABLE queues for it, and every later read of the table
queues behind the ALTER. With the migration's short lock_timeout the bot's
reads wait at most about that long, the deploy retries, then gives up naming
the session in the way (or succeeds once it ends).
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from bot_persistence import migrations
from bot_persistence.db import Database
from bot_persistence.errors import LockTimeoutError
from bot_persistence.project import project_root, versions_dir
from bot_persistence.schema_version import heads_in
from bot_persistence.settings import Settings
from tests.helpers import wait_until

LOCK_TIMEOUT_MS = 400
#: Slack over the lock timeout for a busy two-core machine running other tests.
SLACK = 1.0
ALTER = "a1a1a1a1a1a1"


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """The project's migrations plus one revision that ALTERs ``tracks``; its alembic.ini."""
    root = project_root()
    shutil.copy(root / "alembic.ini", tmp_path / "alembic.ini")
    shutil.copytree(
        root / "alembic", tmp_path / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp_path / "alembic" / "versions" / f"{ALTER}_alter_tracks.py").write_text(
        f'''"""add tracks.bpm"""
import sqlalchemy as sa
from alembic import op

revision = "{ALTER}"
down_revision = "{heads_in(versions_dir())[0]}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tracks", sa.Column("bpm", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("tracks", "bpm")
'''
    )
    return tmp_path / "alembic.ini"


@pytest.fixture
def deploying(settings: Settings) -> Settings:
    migrations.upgrade(settings)
    return settings.model_copy(
        update={"migration_lock_timeout_ms": LOCK_TIMEOUT_MS, "migration_lock_retries": 3}
    )


@pytest.fixture
def long_reader(deploying: Settings) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A session with a read transaction open on ``tracks`` (a report, a forgotten psql)."""
    conn = psycopg.connect(deploying.plain_url, application_name="nightly-report")
    conn.execute("SELECT count(*) FROM tracks").fetchall()
    try:
        yield conn
    finally:
        conn.close()


async def read_tracks_until(db: Database, done: threading.Event) -> list[float]:
    """The bot's reads of ``tracks``, one after another, until ``done``: each one's seconds."""
    latencies: list[float] = []
    while not done.is_set():
        begun = time.monotonic()
        async with db.session() as session:
            await session.execute(text("SELECT count(*) FROM tracks"))
        latencies.append(time.monotonic() - begun)
    return latencies


async def test_a_blocked_deploy_never_stalls_the_bots_reads_and_names_the_blocker(
    deploying: Settings, history: Path, long_reader: psycopg.Connection[tuple[object, ...]]
) -> None:
    done = threading.Event()

    def deploy() -> BaseException | None:
        try:
            migrations.upgrade(deploying, ini=history)
        except BaseException as exc:  # handed to the test's thread
            return exc
        finally:
            done.set()
        return None

    async with Database.connect(deploying) as db:
        reads = asyncio.create_task(read_tracks_until(db, done))
        outcome = await asyncio.to_thread(deploy)
        latencies = await asyncio.wait_for(reads, 30)

    assert isinstance(outcome, LockTimeoutError), outcome
    message = str(outcome)
    assert "\n" not in message
    assert f"{ALTER} (add tracks.bpm)" in message and f"{LOCK_TIMEOUT_MS} ms" in message
    assert f"pid {long_reader.info.backend_pid}" in message
    assert "'nightly-report'" in message and "transaction open" in message
    assert migrations.current_revision(deploying) != ALTER
    assert len(latencies) > 3
    assert max(latencies) < LOCK_TIMEOUT_MS / 1000 + SLACK, max(latencies)


def test_a_deploy_whose_blocker_ends_succeeds_on_a_retry(
    deploying: Settings, history: Path, long_reader: psycopg.Connection[tuple[object, ...]]
) -> None:
    settings = deploying.model_copy(update={"migration_lock_retries": 20})
    outcome: list[object] = []
    worker = threading.Thread(
        target=lambda: outcome.append(migrations.upgrade(settings, ini=history))
    )
    worker.start()

    def migration_waits_for_a_lock() -> bool:
        with psycopg.connect(deploying.plain_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'ALTER TABLE tracks%%' "
                "AND application_name = 'bot-persistence migration'"  # told from the bot
            ).fetchone()
        return bool(row and row[0])

    wait_until(migration_waits_for_a_lock, timeout=20, what="the deploy waiting for its lock")
    long_reader.commit()  # the report ends
    worker.join(timeout=60)
    assert not worker.is_alive()
    assert outcome and migrations.current_revision(deploying) == ALTER
