"""Saved queues: what the player saves on shutdown comes back whole at start-up."""

from __future__ import annotations

import asyncio

import pytest

from bot_persistence import QueueRepository, QueueState
from bot_persistence.db import Database
from bot_persistence.errors import InvalidInputError, NotFoundError
from bot_persistence.models import RepeatMode
from bot_persistence.repositories import GuildSettingsRepository, TrackInput
from bot_persistence.settings import Settings
from tests.helpers import StatementCounter, table_rows

GUILD = 310000000000000001


def tracks(prefix: str, count: int) -> list[TrackInput]:
    return [
        TrackInput(source_url=f"https://music.example/{prefix}/{n}", title=f"{prefix} {n}")
        for n in range(count)
    ]


async def guild(db: Database, guild_id: int = GUILD) -> None:
    async with db.session() as session:
        await GuildSettingsRepository(session).ensure_guild(guild_id, "queue guild")


async def test_a_saved_queue_loads_back_as_it_was_saved(db: Database) -> None:
    await guild(db)
    state = QueueState(
        voice_channel_id=11,
        text_channel_id=12,
        tracks=[*tracks("a", 3), tracks("a", 1)[0]],  # a track twice, as queues have
        current_index=2,
        position_ms=73_500,
        volume=140,
        repeat_mode="queue",
        paused=True,
    )
    async with db.session() as session:
        await QueueRepository(session).save(GUILD, state)
    async with db.session() as session:
        loaded = await QueueRepository(session).load(GUILD)
    assert loaded == state
    assert loaded is not None and loaded.repeat_mode is RepeatMode.QUEUE


async def test_a_save_replaces_the_whole_queue_and_clear_forgets_it(db: Database) -> None:
    await guild(db)
    async with db.session() as session:
        queues = QueueRepository(session)
        await queues.save(GUILD, QueueState(tracks=tracks("old", 5), current_index=4))
        await queues.save(GUILD, {"tracks": tracks("new", 2), "volume": 10})
    async with db.session() as session:
        loaded = await QueueRepository(session).load(GUILD)
        assert loaded is not None
        assert [t.source_url for t in loaded.tracks] == [t.source_url for t in tracks("new", 2)]
        assert (loaded.current_index, loaded.volume) == (0, 10)
        assert await QueueRepository(session).clear(GUILD) is True
        assert await QueueRepository(session).clear(GUILD) is False
        assert await QueueRepository(session).load(GUILD) is None


async def test_an_empty_queue_is_saved_with_its_channels(db: Database) -> None:
    await guild(db)
    async with db.session() as session:
        await QueueRepository(session).save(GUILD, QueueState(voice_channel_id=5))
        loaded = await QueueRepository(session).load(GUILD)
    assert loaded == QueueState(voice_channel_id=5)


@pytest.mark.parametrize(
    ("state", "error"),
    [
        ({"tracks": [], "current_index": 1}, "current_index 1 is past the end"),
        ({"volume": 201}, "volume"),
        ({"repeat_mode": "forever"}, "repeat_mode"),
        ({"tracks": [{"source_url": "x"}]}, "title"),
        ({"position_ms": -1}, "position_ms"),
    ],
    ids=["index-past-end", "volume", "repeat", "track-without-title", "negative-position"],
)
async def test_a_bad_queue_is_refused_before_anything_is_written(
    db: Database, migrated: Settings, state: dict[str, object], error: str
) -> None:
    await guild(db)
    before = table_rows(migrated)
    with pytest.raises(InvalidInputError, match=error):
        async with db.session() as session:
            await QueueRepository(session).save(GUILD, state)
    assert table_rows(migrated) == before


async def test_saving_the_queue_of_an_unknown_guild_says_to_record_it(db: Database) -> None:
    with pytest.raises(NotFoundError, match="ensure_guild"):
        async with db.session() as session:
            await QueueRepository(session).save(GUILD + 1, QueueState())


async def test_saving_1000_tracks_takes_as_many_statements_as_saving_one(
    statements: StatementCounter,
) -> None:
    db = statements.db
    await guild(db)
    counts = []
    for size in (1, 1000):
        statements.reset()
        async with db.session() as session:
            await QueueRepository(session).save(GUILD, QueueState(tracks=tracks(f"s{size}", size)))
        counts.append(statements.count)
    assert counts[0] == counts[1] == 4


async def test_two_saves_of_one_guilds_queue_at_once_leave_one_of_them_whole(
    db: Database,
) -> None:
    await guild(db)
    states = [
        QueueState(tracks=tracks("left", 300), current_index=7, volume=30),
        QueueState(tracks=tracks("right", 200), current_index=3, volume=90),
    ]

    async def save(state: QueueState) -> None:
        async with db.session() as session:
            await QueueRepository(session).save(GUILD, state)

    for _ in range(3):
        await asyncio.gather(*(save(state) for state in states))
        async with db.session() as session:
            loaded = await QueueRepository(session).load(GUILD)
        assert loaded in states  # never a mix of the two
