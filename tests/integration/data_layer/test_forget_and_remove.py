"""Deletion requests: forgetting a user and removing a guild, whole, idempotent, one transaction."""

from __future__ import annotations

import asyncio

import pytest

from bot_persistence import HistoryRepository, QueueRepository, QueueState
from bot_persistence.db import Database
from bot_persistence.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from bot_persistence.models import RepeatMode
from bot_persistence.repositories import (
    GuildSettingsRepository,
    PlaylistRepository,
    TrackInput,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings
from tests.helpers import table_rows

GUILD, OTHER_GUILD = 340000000000000001, 340000000000000002
USER, FRIEND = 340000000000000011, 340000000000000012


def track(n: int) -> TrackInput:
    return TrackInput(source_url=f"https://music.example/f/{n}", title=f"t{n}")


@pytest.fixture
async def world(db: Database) -> dict[str, int]:
    """A user and a friend with preferences, playlists of both scopes, shares, history, a queue."""
    async with db.session() as session:
        guilds = GuildSettingsRepository(session)
        users = UserPreferencesRepository(session)
        playlists = PlaylistRepository(session)
        for guild_id in (GUILD, OTHER_GUILD):
            await guilds.ensure_guild(guild_id, "guild")
        await guilds.update(GUILD, {"dj_only": True, "max_volume": 120})
        for user_id in (USER, FRIEND):
            await users.ensure_user(user_id, "someone")
            await users.set(user_id, {"autoplay": True})
        own = await playlists.create(USER, "mine", guild_id=GUILD)
        guilds_list = await playlists.create(USER, "lounge", GUILD, "guild")
        friends = await playlists.create(FRIEND, "friend's")
        await playlists.add_tracks(own.id, [track(1)], added_by=USER)
        await playlists.add_tracks(guilds_list.id, [track(2), track(3)], added_by=USER)
        await playlists.add_tracks(friends.id, [track(4)], added_by=USER)
        await playlists.share(friends.id, USER, can_edit=True)
        await playlists.share(guilds_list.id, FRIEND)
        history = HistoryRepository(session)
        await history.record(guild_id=GUILD, user_id=USER, track=track(1))
        await history.record(guild_id=GUILD, user_id=FRIEND, track=track(2))
        await QueueRepository(session).save(GUILD, QueueState(tracks=[track(1), track(5)]))
    return {"own": own.id, "guild": guilds_list.id, "friends": friends.id}


async def test_forget_deletes_the_users_data_and_anonymises_what_they_added(
    db: Database, world: dict[str, int]
) -> None:
    async with db.session() as session:
        assert await UserPreferencesRepository(session).forget(USER) is True
    async with db.session() as session:
        users = UserPreferencesRepository(session)
        playlists = PlaylistRepository(session)
        assert (await users.get(USER)).stored is False
        assert (await users.get(FRIEND)).stored is True
        with pytest.raises(NotFoundError):
            await playlists.get(world["own"])
        lounge = await playlists.get(world["guild"])  # the guild keeps its playlist
        friends = await playlists.get(world["friends"])
        assert lounge.owner_id is None and [e.added_by for e in lounge.entries] == [None, None]
        assert [e.added_by for e in friends.entries] == [None]
        assert await playlists.shares(world["friends"]) == []
        assert [s.user_id for s in await playlists.shares(world["guild"])] == [FRIEND]
        history = HistoryRepository(session)
        assert await history.recent(user_id=USER) == []
        assert [e.user_id for e in await history.recent(guild_id=GUILD)] == [FRIEND]
        assert len(await history.most_played(GUILD)) == 2  # counts hold no user


async def test_forget_twice_or_of_a_stranger_changes_nothing(
    db: Database, world: dict[str, int], migrated: Settings
) -> None:
    async with db.session() as session:
        await UserPreferencesRepository(session).forget(USER)
    after_first = table_rows(migrated)
    async with db.session() as session:
        assert await UserPreferencesRepository(session).forget(USER) is False
        assert await UserPreferencesRepository(session).forget(340000000000000099) is False
    assert table_rows(migrated) == after_first


async def test_remove_deletes_everything_kept_about_the_guild(
    db: Database, world: dict[str, int], migrated: Settings
) -> None:
    async with db.session() as session:
        assert await GuildSettingsRepository(session).remove(GUILD) is True
    async with db.session() as session:
        guilds = GuildSettingsRepository(session)
        playlists = PlaylistRepository(session)
        assert (await guilds.get(GUILD)).stored is False
        assert await QueueRepository(session).load(GUILD) is None
        assert await HistoryRepository(session).recent(guild_id=GUILD) == []
        assert await HistoryRepository(session).most_played(GUILD) == []
        with pytest.raises(NotFoundError):
            await playlists.get(world["guild"])
        own = await playlists.get(world["own"])  # the user's own playlist stays theirs
        assert (own.owner_id, own.guild_id) == (USER, None)
    rows = table_rows(migrated)
    assert [row[0] for row in rows["guilds"]] == [OTHER_GUILD]
    assert all(row[0] != world["guild"] for row in rows["playlist_shares"])
    async with db.session() as session:
        assert await GuildSettingsRepository(session).remove(GUILD) is False
    assert table_rows(migrated) == rows


async def test_a_forget_while_the_user_adds_a_track_leaves_nothing_of_theirs(
    db: Database, world: dict[str, int], migrated: Settings
) -> None:
    async def add(n: int) -> None:
        try:
            async with db.session() as session:
                await PlaylistRepository(session).add_track(
                    world["friends"], track(100 + n), by=USER
                )
        except (NotFoundError, PermissionDeniedError):
            pass  # the forget came first: the user, or the share that let them edit, is gone

    async def forget() -> None:
        async with db.session() as session:
            await UserPreferencesRepository(session).forget(USER)

    await asyncio.gather(add(0), forget(), add(1), add(2))
    rows = table_rows(migrated)
    assert all(USER not in row for table in rows.values() for row in table)


async def test_guild_playback_settings_are_stored_and_validated(db: Database) -> None:
    async with db.session() as session:
        guilds = GuildSettingsRepository(session)
        await guilds.ensure_guild(GUILD, "guild")
        config = await guilds.update(
            GUILD,
            {
                "dj_only": True,
                "dj_role_ids": [7, 8],
                "max_volume": 150,
                "vote_skip_ratio": 0.75,
                "stay_channel_id": 9,
                "idle_disconnect_seconds": 0,
                "repeat_mode": "queue",
                "request_channel_id": 10,
            },
        )
    assert config.dj_role_ids == [7, 8] and config.dj_role_id == 7  # the old column kept equal
    assert (config.max_volume, config.vote_skip_ratio, config.repeat_mode) == (
        150,
        0.75,
        RepeatMode.QUEUE,
    )
    async with db.session() as session:
        again = await GuildSettingsRepository(session).update(GUILD, {"dj_role_id": 5})
    assert again.dj_role_ids == [5]


@pytest.mark.parametrize(
    "changes",
    [
        {"max_volume": 201},
        {"vote_skip_ratio": 0},
        {"vote_skip_ratio": float("nan")},
        {"dj_role_ids": list(range(1, 27))},
        {"dj_role_ids": [0]},
        {"idle_disconnect_seconds": 86_401},
        {"default_volume": 150, "max_volume": 100},
        {"max_volume": 10},  # below the stored default_volume of 50
        {"repeat_mode": "shuffle"},
    ],
    ids=[
        "volume-cap",
        "zero-ratio",
        "nan-ratio",
        "26-dj-roles",
        "role-zero",
        "idle-a-day-and-more",
        "default-above-cap",
        "cap-below-stored-default",
        "repeat",
    ],
)
async def test_bad_playback_settings_are_refused_and_change_nothing(
    db: Database, migrated: Settings, changes: dict[str, object]
) -> None:
    async with db.session() as session:
        await GuildSettingsRepository(session).ensure_guild(GUILD, "guild")
        await GuildSettingsRepository(session).update(GUILD, {"default_volume": 50})
    before = table_rows(migrated)
    with pytest.raises(InvalidInputError):
        async with db.session() as session:
            await GuildSettingsRepository(session).update(GUILD, changes)
    assert table_rows(migrated) == before
