"""Many tasks at once against one real server: no lost track, no duplicate position, one row."""

from __future__ import annotations

import asyncio

import pytest

from bot_persistence.db import Database
from bot_persistence.errors import AlreadyExistsError
from bot_persistence.repositories import (
    GuildSettingsRepository,
    PlaylistRepository,
    TrackInput,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings
from tests.helpers import table_rows

OWNER = 300000000000000001
GUILD = 300000000000000002
TASKS = 24


async def owner_playlist(db: Database) -> int:
    async with db.session() as session:
        await UserPreferencesRepository(session).ensure_user(OWNER, "owner")
        return (await PlaylistRepository(session).create(OWNER, "party")).id


async def test_concurrent_adds_lose_no_track_and_never_share_a_position(
    db: Database, migrated: Settings
) -> None:
    playlist = await owner_playlist(db)

    async def add(n: int) -> int:
        track = TrackInput(source_url=f"https://music.example/c/{n}", title=f"T{n}")
        async with db.session() as session:
            repo = PlaylistRepository(session)
            # Half at the end, half at the front: both shift paths race.
            entry = await repo.add_track(playlist, track, position=0 if n % 2 else None)
            return entry.position

    await asyncio.gather(*(add(n) for n in range(TASKS)))
    rows = table_rows(migrated)["playlist_tracks"]
    positions = sorted(int(str(row[3])) for row in rows)
    assert positions == list(range(TASKS))
    assert len({row[2] for row in rows}) == TASKS  # every track, once


async def test_concurrent_imports_sharing_tracks_do_not_deadlock(db: Database) -> None:
    async with db.session() as session:
        await UserPreferencesRepository(session).ensure_user(OWNER, "owner")
        ids = [(await PlaylistRepository(session).create(OWNER, f"p{n}")).id for n in range(6)]

    async def import_(playlist: int, reverse: bool) -> None:
        urls = range(200)
        tracks = [
            TrackInput(source_url=f"https://music.example/s/{n}", title=f"S{n}")
            for n in (reversed(urls) if reverse else urls)
        ]
        async with db.session() as session:
            await PlaylistRepository(session).add_tracks(playlist, tracks)

    await asyncio.wait_for(
        asyncio.gather(*(import_(pid, index % 2 == 1) for index, pid in enumerate(ids))), 60
    )
    async with db.session() as session:
        repo = PlaylistRepository(session)
        counts = [await repo.count(pid) for pid in ids]
        first = await repo.get(ids[0])
        second = await repo.get(ids[1])
    assert counts == [200] * 6
    assert {e.track.id for e in first.entries} == {e.track.id for e in second.entries}


async def test_concurrent_creates_of_one_name_give_one_playlist_and_one_error(
    db: Database, migrated: Settings
) -> None:
    async with db.session() as session:
        await UserPreferencesRepository(session).ensure_user(OWNER, "owner")

    async def create() -> int:
        async with db.session() as session:
            return (await PlaylistRepository(session).create(OWNER, "same")).id

    results = await asyncio.gather(create(), create(), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], AlreadyExistsError)
    assert len(table_rows(migrated)["playlists"]) == 1


@pytest.mark.parametrize("writers", [2, 12])
async def test_a_concurrent_first_write_of_guild_settings_gives_one_row(
    db: Database, migrated: Settings, writers: int
) -> None:
    async with db.session() as session:
        await GuildSettingsRepository(session).ensure_guild(GUILD, "guild")

    async def write(volume: int) -> None:
        async with db.session() as session:
            await GuildSettingsRepository(session).update(GUILD, {"default_volume": volume})

    await asyncio.gather(*(write(volume) for volume in range(writers)))
    rows = table_rows(migrated)["guild_settings"]
    assert len(rows) == 1
    assert rows[0][3] in range(writers)


async def test_concurrent_ensure_user_gives_one_row(db: Database, migrated: Settings) -> None:
    async def ensure(name: str) -> None:
        async with db.session() as session:
            await UserPreferencesRepository(session).ensure_user(OWNER, name)

    await asyncio.gather(*(ensure(f"name{n}") for n in range(8)))
    assert len(table_rows(migrated)["users"]) == 1
