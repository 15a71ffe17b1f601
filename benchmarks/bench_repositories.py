"""The repositories against the same statements written by hand with plain async psycopg.

Each repository call is timed in a batch inside one open unit of work, next to
a batch of the same SQL sent on one psycopg ``AsyncConnection`` in one
transaction, the two alternating (``Bench.time_pair``): the ratio is what
statement look-up, validation and result building cost on top of the round
trips (bar 1.3x). A few calls are also timed
as the bot makes them, one unit of work each (pool checkout, BEGIN, COMMIT),
against a hand-written transaction each: figures, no bar.

The import row adds 10,000 new tracks to a playlist with ``add_tracks``,
against the least a hand-written import does with ``COPY``: the tracks, their
ids read back, and the entries (bar 3x). The queue row saves a guild's queue
of 1,000 new tracks with ``QueueRepository.save`` (four statements), against a
hand-written save built on ``COPY``: the queue's row upserted, its old tracks
deleted, the tracks copied in, their ids read back, the entries copied (bar 5x:
the save resolves each URL against the known tracks with ON CONFLICT and a join,
which a COPY of URLs known to be new skips; the COPY side would fail on a
track the bot has seen before).

The server is a throw-away embedded one on tmpfs with durability off, the same
for both sides, so the figures measure code and round trips, not the disk.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from benchmarks._harness import Bench
from bot_persistence import migrations
from bot_persistence.db import Database
from bot_persistence.provision.base import ensure_database, free_port
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.provision.scratch import scratch_root
from bot_persistence.repositories import (
    GuildSettingsRepository,
    PlaylistRepository,
    QueueRepository,
    QueueState,
    TrackInput,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings

BATCH = 200  # calls per sample: one call is too short to time alone
REPEAT = 9
IMPORT_SIZE = 10_000
IMPORT_REPEAT = 5
QUEUE_SIZE = 1_000
QUEUE_REPEAT = 9
USER = 900000000000000001
GUILD = 900000000000000002


class _Side:
    """Both sides of one benchmark: an open Database and a plain psycopg connection."""

    def __init__(self, settings: Settings, loop: asyncio.AbstractEventLoop) -> None:
        self.settings = settings
        self.loop = loop
        self.db: Database = loop.run_until_complete(Database.connect(settings))
        self.conn: psycopg.AsyncConnection[tuple[object, ...]] = loop.run_until_complete(
            psycopg.AsyncConnection.connect(
                settings.url.set(drivername="postgresql").render_as_string(hide_password=False)
            )
        )
        self.names = itertools.count()

    def run(self, make: Callable[[], Awaitable[object]]) -> Callable[[], object]:
        return lambda: self.loop.run_until_complete(make())

    def close(self) -> None:
        self.loop.run_until_complete(self.conn.close())
        self.loop.run_until_complete(self.db.close())


async def _prepare(side: _Side) -> tuple[int, int]:
    """A user, a guild with settings, ten playlists, one of them with 50 tracks."""
    async with side.db.session() as session:
        await UserPreferencesRepository(session).ensure_user(USER, "bench")
        await UserPreferencesRepository(session).set(USER, {"autoplay": True})
        guilds = GuildSettingsRepository(session)
        await guilds.ensure_guild(GUILD, "bench")
        await guilds.update(GUILD, {"default_volume": 60})
        playlists = PlaylistRepository(session)
        listed = [await playlists.create(USER, f"list {n}") for n in range(10)]
        await playlists.add_tracks(
            listed[0].id,
            [
                TrackInput(source_url=f"https://bench.example/p/{n}", title=f"t{n}")
                for n in range(50)
            ],
        )
        growing = await playlists.create(USER, "growing")
    return listed[0].id, growing.id


Batch = Callable[[], Awaitable[object]]


def _calls(side: _Side, fifty: int, growing: int) -> list[tuple[str, Batch, Batch]]:
    """(name, a batch of repository calls, one hand-written call) for each repository call."""
    db, conn = side.db, side.conn
    urls = itertools.count()

    async def ours(call: Callable[[Any], Awaitable[object]], repo: type[Any]) -> None:
        async with db.session() as session:
            instance = repo(session)
            for _ in range(BATCH):
                await call(instance)

    async def guild_get_sql() -> None:
        cur = await conn.execute(
            "SELECT prefix, dj_role_id, default_volume, locale, announce_channel_id, "
            "announce_now_playing, max_queue_length FROM guild_settings WHERE guild_id = %s",
            (GUILD,),
        )
        await cur.fetchone()

    async def guild_update_sql() -> None:
        cur = await conn.execute(
            "INSERT INTO guild_settings (guild_id, default_volume) VALUES (%s, %s) "
            "ON CONFLICT (guild_id) DO UPDATE SET default_volume = excluded.default_volume, "
            "updated_at = now() RETURNING prefix, dj_role_id, default_volume, locale, "
            "announce_channel_id, announce_now_playing, max_queue_length",
            (GUILD, 70),
        )
        await cur.fetchone()

    async def prefs_get_sql() -> None:
        cur = await conn.execute(
            "SELECT preferred_volume, autoplay, repeat_mode FROM user_preferences "
            "WHERE user_id = %s",
            (USER,),
        )
        await cur.fetchone()

    async def prefs_set_sql() -> None:
        cur = await conn.execute(
            "INSERT INTO user_preferences (user_id, preferred_volume) VALUES (%s, %s) "
            "ON CONFLICT (user_id) DO UPDATE SET preferred_volume = excluded.preferred_volume, "
            "updated_at = now() RETURNING preferred_volume, autoplay, repeat_mode",
            (USER, 80),
        )
        await cur.fetchone()

    async def ensure_user_sql() -> None:
        await conn.execute(
            "INSERT INTO users (id, username) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE "
            "SET username = excluded.username, updated_at = now() "
            "WHERE users.username IS DISTINCT FROM excluded.username",
            (USER, "bench"),
        )

    async def create_sql() -> None:
        cur = await conn.execute(
            "INSERT INTO playlists (owner_id, guild_id, name) VALUES (%s, %s, %s) "
            "ON CONFLICT (owner_id, name) WHERE scope = 'user' DO NOTHING "
            "RETURNING id, owner_id, guild_id, name, created_at, updated_at",
            (USER, None, f"hand {next(side.names)}"),
        )
        await cur.fetchone()

    track_count = (
        "(SELECT count(*) FROM playlist_tracks WHERE playlist_tracks.playlist_id = playlists.id)"
    )

    async def get_sql() -> None:
        cur = await conn.execute(
            "SELECT id, owner_id, guild_id, name, created_at, updated_at FROM playlists "
            "WHERE id = %s",
            (fifty,),
        )
        await cur.fetchone()
        cur = await conn.execute(
            "SELECT pt.position, pt.added_by, pt.added_at, t.id, t.source_url, t.title, "
            "t.artist, t.duration_seconds, t.extra FROM playlist_tracks pt "
            "JOIN tracks t ON pt.track_id = t.id WHERE pt.playlist_id = %s ORDER BY pt.position",
            (fifty,),
        )
        await cur.fetchall()

    async def list_sql() -> None:
        cur = await conn.execute(
            f"SELECT id, owner_id, guild_id, name, {track_count} AS track_count, "  # noqa: S608
            "created_at, updated_at FROM playlists WHERE owner_id = %s ORDER BY name "
            "LIMIT %s OFFSET %s",
            (USER, 100, 0),
        )
        await cur.fetchall()

    async def count_sql() -> None:
        cur = await conn.execute(
            f"SELECT {track_count} FROM playlists WHERE id = %s",  # noqa: S608
            (fifty,),
        )
        await cur.fetchone()

    async def lock_sql(playlist: int) -> tuple[int, int]:
        await conn.execute(
            "UPDATE playlists SET updated_at = now() WHERE id = %s RETURNING id", (playlist,)
        )
        cur = await conn.execute(
            "SELECT count(*), coalesce(max(position) + 1, 0) FROM playlist_tracks "
            "WHERE playlist_id = %s",
            (playlist,),
        )
        row = await cur.fetchone()
        assert row is not None
        return int(str(row[0])), int(str(row[1]))

    async def add_sql() -> None:
        _, end = await lock_sql(growing)
        cur = await conn.execute(
            "INSERT INTO tracks (source_url, title, artist, duration_seconds, extra) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source_url) DO NOTHING RETURNING id",
            (f"https://bench.example/h/{next(urls)}", "t", None, None, Jsonb({})),
        )
        row = await cur.fetchone()
        assert row is not None
        cur = await conn.execute(
            "INSERT INTO playlist_tracks (playlist_id, track_id, position, added_by) "
            "VALUES (%s, %s, %s, %s) RETURNING added_at",
            (growing, row[0], end, None),
        )
        await cur.fetchone()

    async def move_sql() -> None:
        await lock_sql(fifty)
        await conn.execute(
            "UPDATE playlist_tracks SET position = CASE WHEN position = %s THEN %s "
            "ELSE position + %s END WHERE playlist_id = %s AND position BETWEEN %s AND %s",
            (0, 49, -1, fifty, 0, 49),
        )

    def track() -> TrackInput:
        return TrackInput(source_url=f"https://bench.example/o/{next(urls)}", title="t")

    guilds, users, playlists = (
        GuildSettingsRepository,
        UserPreferencesRepository,
        PlaylistRepository,
    )
    return [
        ("guild settings get", lambda: ours(lambda r: r.get(GUILD), guilds), guild_get_sql),
        (
            "guild settings update",
            lambda: ours(lambda r: r.update(GUILD, {"default_volume": 70}), guilds),
            guild_update_sql,
        ),
        ("preferences get", lambda: ours(lambda r: r.get(USER), users), prefs_get_sql),
        (
            "preferences set",
            lambda: ours(lambda r: r.set(USER, {"preferred_volume": 80}), users),
            prefs_set_sql,
        ),
        (
            "ensure_user",
            lambda: ours(lambda r: r.ensure_user(USER, "bench"), users),
            ensure_user_sql,
        ),
        (
            "playlist create",
            lambda: ours(lambda r: r.create(USER, f"ours {next(side.names)}"), playlists),
            create_sql,
        ),
        ("playlist get (50 tracks)", lambda: ours(lambda r: r.get(fifty), playlists), get_sql),
        (
            "playlist list_for_user (11)",
            lambda: ours(lambda r: r.list_for_user(USER), playlists),
            list_sql,
        ),
        ("playlist count", lambda: ours(lambda r: r.count(fifty), playlists), count_sql),
        (
            "playlist add_track (end)",
            lambda: ours(lambda r: r.add_track(growing, track()), playlists),
            add_sql,
        ),
        (
            "playlist move_track",
            lambda: ours(lambda r: r.move_track(fifty, 0, 49), playlists),
            move_sql,
        ),
    ]


async def _hand_import(
    conn: psycopg.AsyncConnection[tuple[object, ...]], playlist: int, rows: list[tuple[str, str]]
) -> None:
    """The least a hand-written import does: COPY the tracks, read their ids, COPY the entries."""
    async with conn.transaction():
        await conn.execute(
            "UPDATE playlists SET updated_at = now() WHERE id = %s RETURNING id", (playlist,)
        )
        async with conn.cursor().copy("COPY tracks (source_url, title) FROM STDIN") as copy:
            for row in rows:
                await copy.write_row(row)
        cur = await conn.execute(
            "SELECT source_url, id FROM tracks WHERE source_url = ANY(%s)",
            ([url for url, _ in rows],),
        )
        ids = {str(url): track_id for url, track_id in await cur.fetchall()}
        async with conn.cursor().copy(
            "COPY playlist_tracks (playlist_id, track_id, position) FROM STDIN"
        ) as copy:
            for position, (url, _) in enumerate(rows):
                await copy.write_row((playlist, ids[url], position))


async def _hand_queue_save(
    conn: psycopg.AsyncConnection[tuple[object, ...]], guild: int, rows: list[tuple[str, str]]
) -> None:
    """A queue save written by hand on COPY: head, old tracks out, tracks in, ids, entries."""
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO saved_queues (guild_id, current_index, volume) VALUES (%s, 0, 50) "
            "ON CONFLICT (guild_id) DO UPDATE SET current_index = excluded.current_index, "
            "volume = excluded.volume, saved_at = now()",
            (guild,),
        )
        await conn.execute("DELETE FROM queue_tracks WHERE guild_id = %s", (guild,))
        async with conn.cursor().copy("COPY tracks (source_url, title) FROM STDIN") as copy:
            for row in rows:
                await copy.write_row(row)
        cur = await conn.execute(
            "SELECT source_url, id FROM tracks WHERE source_url = ANY(%s)",
            ([url for url, _ in rows],),
        )
        ids = {str(url): track_id for url, track_id in await cur.fetchall()}
        async with conn.cursor().copy(
            "COPY queue_tracks (guild_id, position, track_id) FROM STDIN"
        ) as copy:
            for position, (url, _) in enumerate(rows):
                await copy.write_row((guild, position, ids[url]))


@dataclasses.dataclass
class _Import:
    """The next import's inputs, built before its clock starts."""

    playlist: int = 0
    rows: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    tracks: list[TrackInput] = dataclasses.field(default_factory=list)


def _measure(bench: Bench, side: _Side) -> None:
    loop = side.loop
    fifty, growing = loop.run_until_complete(_prepare(side))
    conn = side.conn

    async def theirs(statements: Callable[[], Awaitable[object]]) -> None:
        async with conn.transaction():
            for _ in range(BATCH):
                await statements()

    for name, ours, statements in _calls(side, fifty, growing):
        hand_batch = functools.partial(theirs, statements)
        mine, hand = bench.time_pair(
            f"{name} (x{BATCH})",
            side.run(ours),
            f"{name}: psycopg",
            side.run(hand_batch),
            repeat=REPEAT,
            warmup=1,
        )
        bench.record(mine, baseline=hand, bar=1.3, per=BATCH)

    # As the bot calls it: one unit of work per call (checkout, BEGIN, COMMIT).
    async def unit_per_call() -> None:
        for _ in range(BATCH):
            async with side.db.session() as session:
                await GuildSettingsRepository(session).get(GUILD)

    async def transaction_per_call() -> None:
        for _ in range(BATCH):
            async with conn.transaction():
                cur = await conn.execute(
                    "SELECT prefix, dj_role_id, default_volume, locale, announce_channel_id, "
                    "announce_now_playing, max_queue_length FROM guild_settings "
                    "WHERE guild_id = %s",
                    (GUILD,),
                )
                await cur.fetchone()

    mine, hand = bench.time_pair(
        f"guild settings get, own unit of work (x{BATCH})",
        side.run(unit_per_call),
        "own transaction: psycopg",
        side.run(transaction_per_call),
        repeat=REPEAT,
        warmup=1,
    )
    bench.record(mine, baseline=hand, per=BATCH)

    # A playlist import: fresh URLs every sample, inputs built before the clock starts.
    serial = itertools.count()
    prepared = _Import()

    def new_import() -> None:
        batch = next(serial)
        urls = [f"https://bench.example/import/{batch}/{n}" for n in range(IMPORT_SIZE)]
        prepared.rows = [(url, f"title {n}") for n, url in enumerate(urls)]
        prepared.tracks = [TrackInput(source_url=url, title=t) for url, t in prepared.rows]

        async def new_playlist() -> int:
            async with side.db.session() as session:
                created = await PlaylistRepository(session).create(USER, f"import {batch}")
            return created.id

        prepared.playlist = loop.run_until_complete(new_playlist())

    async def import_ours() -> None:
        async with side.db.session() as session:
            await PlaylistRepository(session).add_tracks(prepared.playlist, prepared.tracks)

    async def import_copy() -> None:
        await _hand_import(conn, prepared.playlist, prepared.rows)

    mine = bench.time(
        f"add_tracks, {IMPORT_SIZE:,} new tracks",
        side.run(import_ours),
        repeat=IMPORT_REPEAT,
        setup=new_import,
    )
    hand = bench.time(
        "COPY: psycopg", side.run(import_copy), repeat=IMPORT_REPEAT, setup=new_import
    )
    bench.record(mine, baseline=hand, bar=3.0)

    # A queue saved at shutdown: fresh URLs every sample, the state built before the clock.
    queued = _Import()

    def new_queue() -> None:
        batch = next(serial)
        urls = [f"https://bench.example/queue/{batch}/{n}" for n in range(QUEUE_SIZE)]
        queued.rows = [(url, f"title {n}") for n, url in enumerate(urls)]
        queued.tracks = [TrackInput(source_url=url, title=t) for url, t in queued.rows]

    async def save_ours() -> None:
        async with side.db.session() as session:
            await QueueRepository(session).save(GUILD, QueueState(tracks=queued.tracks))

    async def save_copy() -> None:
        await _hand_queue_save(conn, GUILD, queued.rows)

    mine = bench.time(
        f"queue save, {QUEUE_SIZE:,} new tracks",
        side.run(save_ours),
        repeat=QUEUE_REPEAT,
        setup=new_queue,
    )
    hand = bench.time("COPY: psycopg", side.run(save_copy), repeat=QUEUE_REPEAT, setup=new_queue)
    bench.record(mine, baseline=hand, bar=5.0)


def run(bench: Bench) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-repos-", dir=scratch_root()))
    password = "bench-password"
    cluster = EmbeddedCluster(root, port=free_port(), user="bot", password=password, durable=False)
    loop = asyncio.new_event_loop()
    try:
        cluster.ensure_initialized()
        cluster.start(timeout=30)
        settings = Settings.from_values(
            postgres_port=cluster.port,
            postgres_db="bench",
            postgres_password=password,
            backend="external",
        )
        ensure_database(settings)
        migrations.upgrade(settings)
        side = _Side(settings, loop)
        try:
            _measure(bench, side)
        finally:
            side.close()
    finally:
        loop.close()
        cluster.purge()
        shutil.rmtree(root, ignore_errors=True)
