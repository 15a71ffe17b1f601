"""Play history: newest first, trimmed per guild to the limit, counted for "most played"."""

from __future__ import annotations

import pytest

from bot_persistence import HistoryRepository
from bot_persistence.db import Database
from bot_persistence.errors import InvalidInputError, NotFoundError
from bot_persistence.repositories import (
    GuildSettingsRepository,
    TrackInput,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings
from tests.helpers import table_rows

GUILD, OTHER_GUILD = 320000000000000001, 320000000000000002
USER, OTHER_USER = 320000000000000011, 320000000000000012


def track(n: int) -> TrackInput:
    return TrackInput(source_url=f"https://music.example/h/{n}", title=f"song {n}")


@pytest.fixture
async def known(db: Database) -> Database:
    async with db.session() as session:
        for guild_id in (GUILD, OTHER_GUILD):
            await GuildSettingsRepository(session).ensure_guild(guild_id, "history guild")
        for user_id in (USER, OTHER_USER):
            await UserPreferencesRepository(session).ensure_user(user_id, "listener")
    return db


async def play(db: Database, n: int, *, guild_id: int = GUILD, user_id: int | None = USER) -> None:
    # One unit of work per play, as the player records them.
    async with db.session() as session:
        await HistoryRepository(session).record(guild_id=guild_id, user_id=user_id, track=track(n))


async def test_recent_returns_the_newest_plays_first_with_track_user_and_time(
    known: Database,
) -> None:
    for n in (1, 2, 3):
        await play(known, n)
    await play(known, 4, user_id=None)
    await play(known, 5, guild_id=OTHER_GUILD, user_id=OTHER_USER)
    async with known.session() as session:
        history = HistoryRepository(session)
        in_guild = await history.recent(guild_id=GUILD)
        mine = await history.recent(user_id=USER, limit=2)
        both = await history.recent(guild_id=OTHER_GUILD, user_id=OTHER_USER)
    assert [e.track.title for e in in_guild] == ["song 4", "song 3", "song 2", "song 1"]
    assert in_guild[0].user_id is None and in_guild[1].user_id == USER
    assert in_guild[0].played_at >= in_guild[-1].played_at
    assert [e.track.title for e in mine] == ["song 3", "song 2"]
    assert [(e.guild_id, e.track.source_url) for e in both] == [(OTHER_GUILD, track(5).source_url)]


async def test_history_is_trimmed_per_guild_to_the_limit(known: Database) -> None:
    for n in range(7):
        async with known.session() as session:
            await HistoryRepository(session, limit=3).record(
                guild_id=GUILD, user_id=USER, track=track(n)
            )
    await play(known, 99, guild_id=OTHER_GUILD)
    async with known.session() as session:
        kept = await HistoryRepository(session).recent(guild_id=GUILD, limit=100)
        other = await HistoryRepository(session).recent(guild_id=OTHER_GUILD)
    assert [e.track.title for e in kept] == ["song 6", "song 5", "song 4"]
    assert len(other) == 1  # another guild's history is not touched


async def test_the_limit_comes_from_the_settings(known: Database, migrated: Settings) -> None:
    async with known.session() as session:
        assert HistoryRepository(session).limit == migrated.history_limit == 1000


async def test_most_played_counts_every_play_even_those_trimmed(known: Database) -> None:
    for n in (1, 2, 2, 3, 3, 3):
        async with known.session() as session:
            await HistoryRepository(session, limit=2).record(
                guild_id=GUILD, user_id=USER, track=track(n)
            )
    async with known.session() as session:
        top = await HistoryRepository(session).most_played(GUILD, limit=2)
    assert [(t.track.title, t.play_count) for t in top] == [("song 3", 3), ("song 2", 2)]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda h: h.recent(), InvalidInputError),
        (lambda h: h.recent(guild_id=GUILD, limit=0), InvalidInputError),
        (lambda h: h.record(guild_id=GUILD + 9, user_id=USER, track=track(1)), NotFoundError),
        (lambda h: h.record(guild_id=GUILD, user_id=USER + 9, track=track(1)), NotFoundError),
        (lambda h: h.record(guild_id=GUILD, user_id=USER, track={"title": "x"}), InvalidInputError),
    ],
    ids=["no-filter", "zero-limit", "unknown-guild", "unknown-user", "bad-track"],
)
async def test_bad_history_calls_raise_ours_and_change_nothing(
    known: Database, migrated: Settings, call: object, error: type[Exception]
) -> None:
    before = table_rows(migrated)
    with pytest.raises(error):
        async with known.session() as session:
            await call(HistoryRepository(session))  # type: ignore[operator]
    assert table_rows(migrated) == before
