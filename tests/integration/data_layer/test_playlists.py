"""Playlists against real PostgreSQL: create, rename, delete, read, add, move, remove, count."""

from __future__ import annotations

import pytest

from bot_persistence.db import Database
from bot_persistence.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from bot_persistence.repositories import (
    GuildSettingsRepository,
    PlaylistRepository,
    TrackInput,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings
from tests.helpers import table_rows

ALICE = 100000000000000001
BOB = 100000000000000002
GUILD = 200000000000000001


def track(n: int) -> TrackInput:
    return TrackInput(source_url=f"https://music.example/t/{n}", title=f"Track {n}", artist="A")


async def make_playlist(db: Database, name: str = "road trip", owner: int = ALICE) -> int:
    async with db.session() as session:
        await UserPreferencesRepository(session).ensure_user(owner, f"user{owner % 1000}")
        return (await PlaylistRepository(session).create(owner, name)).id


async def titles(db: Database, playlist_id: int) -> list[str]:
    async with db.session() as session:
        detail = await PlaylistRepository(session).get(playlist_id)
    assert [entry.position for entry in detail.entries] == list(range(len(detail.entries)))
    return [entry.track.title for entry in detail.entries]


async def test_a_new_playlist_is_empty_and_listed_for_its_owner(db: Database) -> None:
    async with db.session() as session:
        await UserPreferencesRepository(session).ensure_user(ALICE, "alice")
        await GuildSettingsRepository(session).ensure_guild(GUILD, "The Lounge")
        created = await PlaylistRepository(session).create(ALICE, "  road trip ", guild_id=GUILD)
    assert (created.name, created.track_count, created.guild_id) == ("road trip", 0, GUILD)
    async with db.session() as session:
        repo = PlaylistRepository(session)
        listed = await repo.list_for_user(ALICE)
        detail = await repo.get(created.id)
        by_name = await repo.get_by_name(ALICE, "road trip")
        assert await repo.count(created.id) == 0
    assert [p.id for p in listed] == [created.id]
    assert detail.entries == () and detail.name == "road trip"
    assert by_name.id == created.id


async def test_creating_a_name_the_owner_has_raises_already_exists(db: Database) -> None:
    await make_playlist(db, "mix")
    with pytest.raises(AlreadyExistsError, match="already has a playlist named 'mix'"):
        await make_playlist(db, "mix")
    # Another owner may use the same name.
    await make_playlist(db, "mix", owner=BOB)


async def test_creating_for_an_unknown_user_says_to_record_them_first(db: Database) -> None:
    with pytest.raises(NotFoundError, match="ensure_user"):
        async with db.session() as session:
            await PlaylistRepository(session).create(ALICE, "mix")


async def test_tracks_come_back_in_the_order_they_were_added(db: Database) -> None:
    playlist = await make_playlist(db)
    for n in range(5):
        async with db.session() as session:
            entry = await PlaylistRepository(session).add_track(playlist, track(n), added_by=ALICE)
        assert entry.position == n
    assert await titles(db, playlist) == [f"Track {n}" for n in range(5)]


async def test_adding_at_a_position_shifts_the_rest_down(db: Database) -> None:
    playlist = await make_playlist(db)
    async with db.session() as session:
        repo = PlaylistRepository(session)
        await repo.add_tracks(playlist, [track(n) for n in range(3)])
        await repo.add_track(playlist, track(9), position=0)
        await repo.add_track(playlist, track(8), position=2)
        await repo.add_track(playlist, track(7), position=5)  # == count: the end
    assert await titles(db, playlist) == [
        "Track 9",
        "Track 0",
        "Track 8",
        "Track 1",
        "Track 2",
        "Track 7",
    ]


async def test_adding_past_the_end_is_refused_and_changes_nothing(
    db: Database, migrated: Settings
) -> None:
    playlist = await make_playlist(db)
    async with db.session() as session:
        await PlaylistRepository(session).add_track(playlist, track(0))
    before = table_rows(migrated)
    with pytest.raises(InvalidInputError, match=r"past the end .* use 0\.\.1"):
        async with db.session() as session:
            await PlaylistRepository(session).add_track(playlist, track(1), position=2)
    assert table_rows(migrated) == before


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        pytest.param(0, 3, [1, 2, 3, 0, 4], id="down"),
        pytest.param(4, 1, [0, 4, 1, 2, 3], id="up"),
        pytest.param(0, 4, [1, 2, 3, 4, 0], id="first-to-last"),
        pytest.param(4, 0, [4, 0, 1, 2, 3], id="last-to-first"),
        pytest.param(2, 2, [0, 1, 2, 3, 4], id="in-place"),
    ],
)
async def test_moving_a_track_shifts_those_between(
    db: Database, source: int, target: int, expected: list[int]
) -> None:
    playlist = await make_playlist(db)
    async with db.session() as session:
        await PlaylistRepository(session).add_tracks(playlist, [track(n) for n in range(5)])
    async with db.session() as session:
        await PlaylistRepository(session).move_track(playlist, source, target)
    assert await titles(db, playlist) == [f"Track {n}" for n in expected]


async def test_removing_a_track_closes_the_gap(db: Database) -> None:
    playlist = await make_playlist(db)
    async with db.session() as session:
        repo = PlaylistRepository(session)
        await repo.add_tracks(playlist, [track(n) for n in range(4)])
        removed = await repo.remove_track(playlist, 1)
        assert await repo.count(playlist) == 3
    assert removed.title == "Track 1"
    assert await titles(db, playlist) == ["Track 0", "Track 2", "Track 3"]


async def test_a_position_with_no_track_is_not_found(db: Database) -> None:
    playlist = await make_playlist(db)
    async with db.session() as session:
        await PlaylistRepository(session).add_tracks(playlist, [track(0), track(1)])
    with pytest.raises(NotFoundError, match=r"no track at position 2; it holds 2"):
        async with db.session() as session:
            await PlaylistRepository(session).remove_track(playlist, 2)
    with pytest.raises(NotFoundError, match="no track at position 5"):
        async with db.session() as session:
            await PlaylistRepository(session).move_track(playlist, 0, 5)


async def test_the_same_url_is_one_track_shared_by_playlists(db: Database) -> None:
    first = await make_playlist(db, "one")
    second = await make_playlist(db, "two")
    async with db.session() as session:
        repo = PlaylistRepository(session)
        a = await repo.add_track(first, track(1))
        b = await repo.add_track(second, track(1))
        imported = await repo.add_tracks(second, [track(1), track(2), track(1)])
    assert a.track.id == b.track.id
    assert imported == range(1, 4)
    async with db.session() as session:
        detail = await PlaylistRepository(session).get(second)
    ids = [entry.track.id for entry in detail.entries]
    assert ids[0] == ids[1] == ids[3] == a.track.id and ids[2] != a.track.id


async def test_renaming_to_a_name_the_owner_has_raises_already_exists(db: Database) -> None:
    await make_playlist(db, "one")
    second = await make_playlist(db, "two")
    async with db.session() as session:
        renamed = await PlaylistRepository(session).rename(second, "three")
    assert renamed.name == "three"
    with pytest.raises(AlreadyExistsError, match="already has a playlist named 'one'"):
        async with db.session() as session:
            await PlaylistRepository(session).rename(second, "one")


async def test_deleting_a_playlist_removes_its_entries_but_keeps_tracks(
    db: Database, migrated: Settings
) -> None:
    playlist = await make_playlist(db)
    async with db.session() as session:
        await PlaylistRepository(session).add_tracks(playlist, [track(0), track(1)])
    async with db.session() as session:
        await PlaylistRepository(session).delete(playlist)
    rows = table_rows(migrated)
    assert rows["playlists"] == [] and rows["playlist_tracks"] == []
    assert len(rows["tracks"]) == 2
    with pytest.raises(NotFoundError, match=f"playlist {playlist} does not exist"):
        async with db.session() as session:
            await PlaylistRepository(session).delete(playlist)


async def test_importing_thousands_of_tracks_keeps_their_order(db: Database) -> None:
    playlist = await make_playlist(db)
    async with db.session() as session:
        await PlaylistRepository(session).add_track(playlist, track(-1))
        taken = await PlaylistRepository(session).add_tracks(
            playlist, [track(n) for n in range(2000)], added_by=ALICE
        )
    assert taken == range(1, 2001)
    names = await titles(db, playlist)
    assert names == ["Track -1", *(f"Track {n}" for n in range(2000))]


async def test_a_full_playlist_refuses_more_tracks(db: Database, migrated: Settings) -> None:
    playlist = await make_playlist(db)
    async with db.session() as session:
        await PlaylistRepository(session, max_tracks=3).add_tracks(playlist, [track(0), track(1)])
    before = table_rows(migrated)
    with pytest.raises(InvalidInputError, match="at most 3 tracks"):
        async with db.session() as session:
            await PlaylistRepository(session, max_tracks=3).add_tracks(
                playlist, [track(2), track(3)]
            )
    assert table_rows(migrated) == before
    async with db.session() as session:
        await PlaylistRepository(session, max_tracks=3).add_track(playlist, track(2))
    with pytest.raises(InvalidInputError, match="at most 3 tracks"):
        async with db.session() as session:
            await PlaylistRepository(session, max_tracks=3).add_track(playlist, track(3))
