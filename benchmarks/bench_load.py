"""The bot's load: ``Database`` + repositories against raw psycopg_pool running the same SQL.

The mix, each call its own unit of work: 40 % playlist ``get`` (50 tracks),
20 % preferences ``get``, 20 % guild settings ``get``, 10 % ``list_for_user``
(11 playlists), 10 % ``add_track``. Contender A is ``Database`` with default
pool settings and the repositories; contender B is a ``psycopg_pool``
``AsyncConnectionPool`` of the same size sending the very SQL our statements
compile to, in the same order, and reading tuples (nothing built from them).

A and B run in alternating pairs (AB, BA, ...) in one process against one
server, at 1, 5 and 50 coroutines, directly and through PgBouncer in
transaction mode; each run is a window of ``WINDOW`` seconds after a warm-up.
Per window: calls/s, p50, p99, client CPU per call (this process's CPU time,
the server's excluded), new connections the pool opened, errors. The report
rows are medians over the pairs; bars: A's time per call (1 / throughput) at
most 1.25x B's (throughput at least 0.8x), p99 at most 2x, and rows for new
connections or errors, which must not appear.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from sqlalchemy.sql import ClauseElement

from benchmarks._harness import Bench, Measurement
from bot_persistence import migrations
from bot_persistence.connection import connect_kwargs, statement_timeout_sql
from bot_persistence.db import Database
from bot_persistence.pool import APPLICATION_NAME, conninfo
from bot_persistence.provision.base import ensure_database, free_port
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.provision.pgbouncer import pgbouncer_binary, throwaway_pgbouncer
from bot_persistence.provision.scratch import scratch_root
from bot_persistence.repositories import (
    GuildSettingsRepository,
    PlaylistRepository,
    TrackInput,
    UserPreferencesRepository,
)
from bot_persistence.repositories import guilds as guilds_module
from bot_persistence.repositories import users as users_module
from bot_persistence.repositories.playlists import _statements as playlists_sql
from bot_persistence.settings import Settings
from bot_persistence.statements import compiled

LEVELS = (1, 5, 50)
PAIRS = 5
WINDOW = 2.0  # seconds of measured load per contender per pair
WARMUP = 1.0
MIX = (("playlist get", 40), ("preferences get", 20), ("guild get", 20), ("list", 10), ("add", 10))
USERS = 20
TRACKS = 50
PASSWORD = "bench-password"
FIRST_ID = 910000000000000000


@dataclasses.dataclass(frozen=True)
class Data:
    """The ids the calls use: every user has 11 playlists, the first holds 50 tracks."""

    users: tuple[int, ...]
    guilds: tuple[int, ...]
    full: tuple[int, ...]  # a 50-track playlist per user
    growing: tuple[int, ...]  # one playlist per coroutine that add_track appends to


@dataclasses.dataclass
class Window:
    """What one contender did in one window."""

    calls: int
    seconds: float
    cpu: float
    latencies: list[float]
    new_connections: int
    errors: int

    @property
    def per_call(self) -> float:
        return self.seconds / self.calls if self.calls else float("inf")

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


Call = Callable[[int, int], Awaitable[object]]  # (operation, worker) -> awaitable


class Contender:
    """A side of the comparison: one call of the mix, and the pool's connection count."""

    name = ""

    async def call(self, operation: int, worker: int) -> object:
        raise NotImplementedError

    def connections_opened(self) -> int:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class Ours(Contender):
    """A: ``Database`` and the repositories, as the bot calls them."""

    name = "A ours"

    def __init__(self, db: Database, data: Data) -> None:
        self.db = db
        self.data = data
        self.urls = _urls("a")

    async def call(self, operation: int, worker: int) -> object:
        data, user = self.data, worker % USERS
        async with self.db.session() as session:
            if operation == 0:
                return await PlaylistRepository(session).get(data.full[user])
            if operation == 1:
                return await UserPreferencesRepository(session).get(data.users[user])
            if operation == 2:
                return await GuildSettingsRepository(session).get(data.guilds[user])
            if operation == 3:
                return await PlaylistRepository(session).list_for_user(data.users[user])
            track = TrackInput(source_url=next(self.urls), title="t")
            return await PlaylistRepository(session).add_track(data.growing[worker], track)

    def connections_opened(self) -> int:
        return int(self.db.pool.get_stats().get("connections_num", 0))

    async def close(self) -> None:
        await self.db.close()


def _urls(side: str) -> Iterator[str]:
    """Track URLs nobody used yet: every add_track inserts a new track, on both sides."""
    run = secrets.token_hex(4)
    return (f"https://load.example/{side}/{run}/{n}" for n in itertools.count())


def _sql(statement: ClauseElement, *keys: str) -> tuple[str, dict[str, Any]]:
    """The SQL our statement compiles to, and the constants it binds itself."""
    prepared = compiled(statement, dict.fromkeys(keys))
    return prepared.sql, dict(prepared.fixed)


class Raw(Contender):
    """B: psycopg_pool and psycopg, the same SQL, tuples read and dropped."""

    name = "B psycopg"

    def __init__(self, pool: AsyncConnectionPool[Any], data: Data, begin_sql: str | None) -> None:
        self.pool = pool
        self.data = data
        self.begin_sql = begin_sql
        self.urls = _urls("b")
        p, u, g = playlists_sql, users_module, guilds_module
        self.head = _sql(p.HEAD, "pid")
        self.entries = _sql(p.ENTRIES, "pid")
        self.prefs = _sql(u._PREFERENCES.select, "user_id")
        self.guild = _sql(g._SETTINGS.select, "guild_id")
        self.list = _sql(p.LIST, "owner_id", "limit", "offset")
        self.lock = _sql(p.LOCK, "pid")
        self.size = _sql(p.SIZE, "pid")
        track_keys = ("source_url", "title", "artist", "duration_seconds", "extra")
        self.track = _sql(p.INSERT_TRACK, *track_keys)
        self.entry = _sql(p.INSERT_ENTRY, "playlist_id", "track_id", "position", "added_by")

    async def call(self, operation: int, worker: int) -> object:
        data, user = self.data, worker % USERS
        async with self.pool.connection() as conn:
            if self.begin_sql:
                await conn.execute(self.begin_sql)
            if operation == 0:
                (sql, fixed), pid = self.head, data.full[user]
                await (await conn.execute(sql, {**fixed, "pid": pid})).fetchone()
                sql, fixed = self.entries
                return await (await conn.execute(sql, {**fixed, "pid": pid})).fetchall()
            if operation == 1:
                sql, fixed = self.prefs
                cursor = await conn.execute(sql, {**fixed, "user_id": data.users[user]})
                return await cursor.fetchone()
            if operation == 2:
                sql, fixed = self.guild
                cursor = await conn.execute(sql, {**fixed, "guild_id": data.guilds[user]})
                return await cursor.fetchone()
            if operation == 3:
                sql, fixed = self.list
                params = {**fixed, "owner_id": data.users[user], "limit": 100, "offset": 0}
                return await (await conn.execute(sql, params)).fetchall()
            pid = data.growing[worker]
            sql, fixed = self.lock
            await (await conn.execute(sql, {**fixed, "pid": pid})).fetchone()
            sql, fixed = self.size
            size = await (await conn.execute(sql, {**fixed, "pid": pid})).fetchone()
            assert size is not None
            sql, fixed = self.track
            url = next(self.urls)
            track = {"source_url": url, "title": "t", "artist": None, "duration_seconds": None}
            cursor = await conn.execute(sql, {**fixed, **track, "extra": Jsonb({})})
            track_id = await cursor.fetchone()
            assert track_id is not None
            sql, fixed = self.entry
            entry = {"playlist_id": pid, "track_id": track_id[0], "position": size[1]}
            cursor = await conn.execute(sql, {**fixed, **entry, "added_by": None})
            return await cursor.fetchone()

    def connections_opened(self) -> int:
        return int(self.pool.get_stats().get("connections_num", 0))

    async def close(self) -> None:
        await self.pool.close()


def _operations(count: int = 1000) -> list[int]:
    """A fixed random sequence of the mix's operations (the same for both contenders)."""
    weights = [weight for _, weight in MIX]
    return random.Random(16).choices(range(len(MIX)), weights=weights, k=count)  # noqa: S311


async def _window(contender: Contender, workers: int, seconds: float) -> Window:
    operations = _operations()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker(index: int) -> None:
        nonlocal errors
        for step in itertools.count(index * 37):
            started = time.perf_counter()
            if started >= deadline:
                return
            try:
                await contender.call(operations[step % len(operations)], index)
            except Exception as exc:  # counted, and the first few shown: the bar is zero
                errors += 1
                if errors <= 3:
                    print(f"  {contender.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            latencies.append(time.perf_counter() - started)

    opened = contender.connections_opened()
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(workers)))
    return Window(
        calls=len(latencies),
        seconds=time.perf_counter() - wall,
        cpu=time.process_time() - cpu,
        latencies=latencies,
        new_connections=contender.connections_opened() - opened,
        errors=errors,
    )


async def _prepare(db: Database) -> Data:
    users = tuple(FIRST_ID + n for n in range(USERS))
    guilds = tuple(FIRST_ID + 1000 + n for n in range(USERS))
    full, growing = [], []
    async with db.session() as session:
        people, servers = UserPreferencesRepository(session), GuildSettingsRepository(session)
        playlists = PlaylistRepository(session)
        for n, (user, guild) in enumerate(zip(users, guilds, strict=True)):
            await people.ensure_user(user, f"load{n}")
            await people.set(user, {"autoplay": True})
            await servers.ensure_guild(guild, f"load{n}")
            await servers.update(guild, {"default_volume": 60})
            created = [await playlists.create(user, f"list {k}") for k in range(11)]
            await playlists.add_tracks(
                created[0].id,
                [
                    TrackInput(source_url=f"https://load.example/{n}/{k}", title=f"t{k}")
                    for k in range(TRACKS)
                ],
            )
            full.append(created[0].id)
        for worker in range(max(LEVELS)):
            owner = users[worker % USERS]
            growing.append((await playlists.create(owner, f"growing {worker}")).id)
    return Data(users, guilds, tuple(full), tuple(growing))


async def _contenders(settings: Settings, data: Data) -> tuple[Ours, Raw]:
    db = await Database.connect(settings)
    kwargs = {**connect_kwargs(settings), "application_name": APPLICATION_NAME}
    timeout = statement_timeout_sql(settings)

    async def configure(conn: Any) -> None:
        assert timeout is not None
        await conn.execute(timeout[1])
        await conn.commit()

    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo(settings),
        kwargs=kwargs,
        min_size=settings.pool_size,
        max_size=settings.pool_size + settings.max_overflow,
        timeout=settings.pool_timeout,
        configure=configure if timeout and timeout[0] == "connect" else None,
        open=False,
    )
    await pool.open(wait=True)
    begin_sql = timeout[1] if timeout and timeout[0] == "begin" else None
    return Ours(db, data), Raw(pool, data, begin_sql)


@dataclasses.dataclass
class _Level:
    label: str
    windows: dict[str, list[Window]]


async def _measure(settings: Settings, data: Data, label: str) -> list[_Level]:
    ours, raw = await _contenders(settings, data)
    levels = []
    try:
        for workers in LEVELS:
            for contender in (ours, raw):  # the pools grow to what this load needs
                await _window(contender, workers, WARMUP)
            windows: dict[str, list[Window]] = {ours.name: [], raw.name: []}
            for pair in range(PAIRS):
                order = (ours, raw) if pair % 2 == 0 else (raw, ours)
                for contender in order:
                    windows[contender.name].append(await _window(contender, workers, WINDOW))
            levels.append(_Level(f"{label}, {workers} coroutine(s)", windows))
    finally:
        await ours.close()
        await raw.close()
    return levels


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _report(bench: Bench, level: _Level) -> None:
    a, b = level.windows[Ours.name], level.windows[Raw.name]
    for name, windows in level.windows.items():
        rates = [w.calls / w.seconds for w in windows]
        bench.note(
            f"{level.label:<26} {name:<10} {_median(rates):6.0f} calls/s"
            f"  p50 {_median([w.percentile(0.5) for w in windows]) * 1e3:6.2f} ms"
            f"  p99 {_median([w.percentile(0.99) for w in windows]) * 1e3:6.2f} ms"
            f"  CPU/call {_median([w.cpu / max(w.calls, 1) for w in windows]) * 1e6:5.0f} µs"
            f"  new connections/window {max(w.new_connections for w in windows)}"
            f"  errors {sum(w.errors for w in windows)}"
            f"  (calls/s per pair: {', '.join(f'{r:.0f}' for r in rates)})"
        )

    def row(name: str, pick: Callable[[Window], float]) -> tuple[Measurement, Measurement]:
        return (
            Measurement(f"{level.label}: {name}", tuple(pick(w) for w in a)),
            Measurement(f"{level.label}: {name}: psycopg_pool", tuple(pick(w) for w in b)),
        )

    ours, theirs = row("time per call", lambda w: w.per_call)
    bench.record(ours, baseline=theirs, bar=1.25)
    ours, theirs = row("p99", lambda w: w.percentile(0.99))
    bench.record(ours, baseline=theirs, bar=2.0)
    ours, theirs = row("CPU per call", lambda w: w.cpu / max(w.calls, 1))
    bench.record(ours, baseline=theirs)
    for name, windows in level.windows.items():
        churn = max(w.new_connections for w in windows)
        errors = sum(w.errors for w in windows)
        if churn or errors:  # a row over its bar makes --strict fail
            label = f"{level.label}: {name}: {churn} new connections, {errors} errors (s = count)"
            bench.record(Measurement(label, (float(churn + errors),)), bar=0.0, bar_seconds=True)


def run(bench: Bench) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-load-", dir=scratch_root()))
    cluster = EmbeddedCluster(
        root / "pg", port=free_port(), user="bot", password=PASSWORD, durable=False
    )
    loop = asyncio.new_event_loop()
    try:
        cluster.ensure_initialized()
        cluster.start(timeout=30)
        settings = Settings.from_values(
            postgres_port=cluster.port,
            postgres_db="bench",
            postgres_password=PASSWORD,
            backend="external",
        )
        ensure_database(settings)
        migrations.upgrade(settings)

        async def prepare() -> Data:
            async with Database.connect(settings) as db:
                return await _prepare(db)

        data = loop.run_until_complete(prepare())
        print("  load: direct (A = Database + repositories, B = psycopg_pool)", file=sys.stderr)
        levels = loop.run_until_complete(_measure(settings, data, "direct"))
        if pgbouncer_binary() is None:
            print("  load: pgbouncer is not installed; skipped through PgBouncer", file=sys.stderr)
        else:
            with throwaway_pgbouncer(
                settings, pool_size=settings.pool_size + settings.max_overflow
            ) as pooled:
                levels += loop.run_until_complete(_measure(pooled, data, "PgBouncer"))
        for level in levels:
            _report(bench, level)
    finally:
        loop.close()
        cluster.purge()
        shutil.rmtree(root, ignore_errors=True)
