"""No N+1: reading a playlist costs the same number of statements for 1 track or 200."""

from __future__ import annotations

import pytest

from bot_persistence.db import Database
from bot_persistence.repositories import PlaylistRepository, TrackInput, UserPreferencesRepository
from tests.helpers import StatementCounter

OWNER = 600000000000000001


async def playlist_with(db: Database, name: str, tracks: int) -> int:
    async with db.session() as session:
        await UserPreferencesRepository(session).ensure_user(OWNER, "owner")
        repo = PlaylistRepository(session)
        playlist = (await repo.create(OWNER, name)).id
        await repo.add_tracks(
            playlist,
            [
                TrackInput(source_url=f"https://music.example/{name}/{n}", title=f"{n}")
                for n in range(tracks)
            ],
        )
    return playlist


async def statements_to_read(db: Database, counter: StatementCounter, playlist: int) -> int:
    counter.reset()
    async with db.session() as session:
        detail = await PlaylistRepository(session).get(playlist)
        assert all(entry.track.title for entry in detail.entries)
    return counter.count


async def test_reading_a_playlist_takes_a_constant_number_of_statements(
    statements: StatementCounter,
) -> None:
    db = statements.db
    small = await playlist_with(db, "small", 1)
    large = await playlist_with(db, "large", 200)
    assert await statements_to_read(db, statements, small) == 2
    assert await statements_to_read(db, statements, large) == 2


@pytest.mark.parametrize("tracks", [10, 1000])
async def test_an_import_takes_a_bounded_number_of_statements(
    statements: StatementCounter, tracks: int
) -> None:
    db = statements.db
    playlist = await playlist_with(db, "target", 0)
    statements.reset()
    async with db.session() as session:
        await PlaylistRepository(session).add_tracks(
            playlist,
            [
                TrackInput(source_url=f"https://music.example/i/{n}", title="t")
                for n in range(tracks)
            ],
        )
    # lock, count, insert tracks, look their ids up, insert entries; batched, not per row.
    assert statements.count <= 5 + 2 * (tracks // 1000)
