"""The bot's call latency while a deploy waits behind a long transaction.

A report holds a read transaction on ``tracks`` for ``HOLD`` seconds; a deploy
runs a revision that ALTERs ``tracks``; five bot coroutines read ``tracks``
through :class:`~bot_persistence.db.Database` throughout. Contender: the
migration's default ``lock_timeout`` (``BOT_DB_MIGRATION_LOCK_TIMEOUT_MS``,
2 s) with its retries; baseline: no lock timeout, as before, when the ALTER
waits in the lock queue for the whole report and every read queues behind it.
Rows: the bot's p99 and max call latency in each case (bar: max at most the
lock timeout plus half a second), and the deploy's own duration.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from sqlalchemy import text

from benchmarks._harness import Bench, Measurement
from bot_persistence import migrations
from bot_persistence.db import Database
from bot_persistence.project import project_root, versions_dir
from bot_persistence.provision.base import ensure_database
from bot_persistence.provision.scratch import throwaway_server
from bot_persistence.schema_version import heads_in
from bot_persistence.settings import Settings

#: Seconds the report's transaction stays open.
HOLD = 7.0
READERS = 5


def _history(folder: Path) -> Path:
    root = project_root()
    shutil.copy(root / "alembic.ini", folder / "alembic.ini")
    shutil.copytree(
        root / "alembic", folder / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    (folder / "alembic" / "versions" / "bench0alter.py").write_text(
        '"""add tracks.bench_bpm"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f'revision = "bench0alter"\ndown_revision = "{heads_in(versions_dir())[0]}"\n'
        "branch_labels = None\ndepends_on = None\n\n\n"
        "def upgrade() -> None:\n"
        '    op.add_column("tracks", sa.Column("bench_bpm", sa.Integer(), nullable=True))\n\n\n'
        "def downgrade() -> None:\n"
        '    op.drop_column("tracks", "bench_bpm")\n'
    )
    return folder / "alembic.ini"


async def _reads_during(settings: Settings, ini: Path) -> tuple[list[float], float]:
    """Bot read latencies while a deploy runs behind a ``HOLD``-second report; deploy seconds."""
    done = threading.Event()
    latencies: list[float] = []

    async def reader(db: Database) -> None:
        while not done.is_set():
            begun = time.perf_counter()
            async with db.session() as session:
                await session.execute(text("SELECT count(*) FROM tracks"))
            latencies.append(time.perf_counter() - begun)

    def deploy() -> float:
        begun = time.perf_counter()
        try:
            migrations.upgrade(settings, ini=ini)
        finally:
            done.set()
        return time.perf_counter() - begun

    report = psycopg.connect(settings.plain_url, application_name="nightly-report")
    report.execute("SELECT count(*) FROM tracks").fetchall()
    ending = threading.Timer(HOLD, report.commit)  # the report ends after HOLD seconds
    async with Database.connect(settings) as db:
        readers = [asyncio.create_task(reader(db)) for _ in range(READERS)]
        ending.start()
        took = await asyncio.to_thread(deploy)
        await asyncio.gather(*readers)
    ending.join()
    report.close()
    migrations.downgrade(settings, "-1", ini=ini)
    return latencies, took


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] if len(samples) > 1 else samples[0]


def run(bench: Bench) -> None:
    with throwaway_server() as server, tempfile.TemporaryDirectory() as folder:
        settings = server.settings.model_copy(update={"postgres_db": "bench_deploy"})
        ensure_database(settings)
        migrations.upgrade(settings)
        ini = _history(Path(folder))
        safe = settings.model_copy(update={"migration_lock_timeout_ms": 2000})
        unbounded = settings.model_copy(update={"migration_lock_timeout_ms": 0})
        ours, ours_took = asyncio.run(_reads_during(safe, ini))
        theirs, theirs_took = asyncio.run(_reads_during(unbounded, ini))
    limit = safe.migration_lock_timeout_ms / 1000
    bench.record(
        Measurement("bot read max, deploy behind a 7 s transaction", (max(ours),)),
        baseline=Measurement("no lock_timeout", (max(theirs),)),
        bar=limit + 0.5,
        bar_seconds=True,
    )
    bench.record(
        Measurement("bot read p99, deploy behind a 7 s transaction", (_p99(ours),)),
        baseline=Measurement("no lock_timeout", (_p99(theirs),)),
        bar=limit + 0.5,
        bar_seconds=True,
    )
    bench.record(
        Measurement("deploy duration behind a 7 s transaction", (ours_took,)),
        baseline=Measurement("no lock_timeout", (theirs_took,)),
    )
    bench.note(
        f"bot reads while a deploy waits: lock_timeout 2 s: {len(ours)} calls, "
        f"p99 {_p99(ours):.2f} s, max {max(ours):.2f} s; no lock_timeout: {len(theirs)} calls, "
        f"p99 {_p99(theirs):.2f} s, max {max(theirs):.2f} s"
    )
