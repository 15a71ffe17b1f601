"""Failover as libpq does it: a real streaming standby, promoted under the bot's load.

Two clusters from the same binaries: a primary, and a standby made from it with
``pg_basebackup -R`` that streams its WAL. The bot's URL names both hosts with
``target_session_attrs=read-write``, so libpq connects to whichever accepts
writes. The primary is stopped (a fast shutdown sends the standby all of its
WAL first) and the standby promoted while a writer keeps writing: the same
process writes again within about a second, and every write it was told had
committed is on the new primary.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from bot_persistence import migrations
from bot_persistence.db import Database
from bot_persistence.errors import DatabaseUnavailableError
from bot_persistence.provision.base import free_port
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.provision.scratch import scratch_root
from bot_persistence.settings import Settings
from tests.helpers import PASSWORD, make_settings, wait_until


@dataclass
class Pair:
    primary: EmbeddedCluster
    standby: EmbeddedCluster

    def url(self, form: str) -> str:
        """The bot's DATABASE_URL naming both servers, in one of libpq's three forms."""
        secret = quote(PASSWORD, safe="")
        a, b = self.primary.port, self.standby.port
        attrs = "target_session_attrs=read-write"
        if form == "netloc":
            return f"postgresql://bot:{secret}@127.0.0.1:{a},127.0.0.1:{b}/postgres?{attrs}"
        if form == "repeated":
            return (
                f"postgresql://bot:{secret}@/postgres?host=127.0.0.1:{a}&host=127.0.0.1:{b}&{attrs}"
            )
        return f"postgresql://bot:{secret}@/postgres?host=127.0.0.1,127.0.0.1&port={a},{b}&{attrs}"


@pytest.fixture
def pair() -> Iterator[Pair]:
    """A migrated primary and a streaming standby of it, both running."""
    root = Path(tempfile.mkdtemp(prefix="bp-failover-", dir=scratch_root()))
    primary = EmbeddedCluster(
        root / "primary", port=free_port(), user="bot", password=PASSWORD, durable=False
    )
    standby = EmbeddedCluster(
        root / "standby", port=free_port(), user="bot", password=PASSWORD, durable=False
    )
    try:
        primary.ensure_initialized()
        primary.start(timeout=30)
        migrations.upgrade(make_settings(primary.port, "postgres"))
        standby.init_standby(make_settings(primary.port, "postgres").plain_url)
        standby.start(timeout=30)
        yield Pair(primary, standby)
    finally:
        standby.purge()
        primary.purge()


def in_recovery(port: int) -> bool:
    with psycopg.connect(make_settings(port, "postgres").plain_url) as conn:
        row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    return bool(row and row[0])


@pytest.mark.parametrize("form", ["netloc", "repeated", "ports"])
async def test_a_promoted_standby_takes_writes_within_a_second_with_none_lost(
    pair: Pair, form: str
) -> None:
    assert in_recovery(pair.standby.port)
    settings = Settings.from_values(
        database_url=SecretStr(pair.url(form)),
        backend="external",
        connect_timeout=2,
        branch_databases=False,
        environment="production",
    )
    acknowledged: list[int] = []
    failures: list[tuple[float, BaseException]] = []
    written_at: list[float] = []
    stop = asyncio.Event()

    async with Database.connect(settings) as db:
        async with db.session() as session:
            await session.execute(text("CREATE TABLE writes (n int PRIMARY KEY)"))

        async def writer() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    async with db.session() as session:
                        await session.execute(text("INSERT INTO writes VALUES (:n)"), {"n": n})
                except DatabaseUnavailableError as exc:
                    failures.append((time.monotonic(), exc))
                    await asyncio.sleep(0.05)  # wait-ok: paces the writer; synchronises nothing
                    continue
                acknowledged.append(n)
                written_at.append(time.monotonic())

        task = asyncio.create_task(writer())
        await asyncio.to_thread(
            wait_until, lambda: len(acknowledged) > 20, timeout=10, what="writes"
        )
        await asyncio.to_thread(pair.primary.stop)
        stopped = time.monotonic()
        await asyncio.to_thread(pair.standby.promote)
        promoted = time.monotonic()
        before = len(acknowledged)
        await asyncio.to_thread(
            wait_until, lambda: len(acknowledged) > before + 20, timeout=15, what="writes again"
        )
        stop.set()
        await task

    first_after = next(t for t in written_at if t > promoted)
    print(  # the figures for the note (-s shows them)
        f"[{form}] failed calls {len(failures)}, first write {first_after - promoted:.2f} s "
        f"after the promote, {first_after - stopped:.2f} s after the primary stopped"
    )
    assert first_after - promoted < 1.5
    assert all(t - stopped < settings.connect_timeout + 1.5 for t, _ in failures)
    with psycopg.connect(make_settings(pair.standby.port, "postgres").plain_url) as conn:
        present = {row[0] for row in conn.execute("SELECT n FROM writes").fetchall()}
    assert set(acknowledged) <= present
