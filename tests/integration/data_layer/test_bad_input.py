"""Hostile or wrong input gives a typed error and leaves the database exactly as it was."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot_persistence.db import Database
from bot_persistence.errors import InvalidInputError, NotFoundError, RepositoryError
from bot_persistence.repositories import (
    GuildSettingsRepository,
    PlaylistRepository,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings
from tests.helpers import table_rows

USER = 400000000000000001
GUILD = 400000000000000002
PLAYLIST = 1  # the first identity value: the playlist the fixture below makes
UNKNOWN = 987654321
GOOD_TRACK = {"source_url": "https://music.example/ok", "title": "ok"}

Call = Callable[[PlaylistRepository, GuildSettingsRepository, UserPreferencesRepository], Any]

CASES: list[Any] = [
    # playlist names
    pytest.param(lambda p, g, u: p.create(USER, ""), InvalidInputError, "empty", id="empty-name"),
    pytest.param(lambda p, g, u: p.create(USER, "   "), InvalidInputError, "empty", id="blank"),
    pytest.param(
        lambda p, g, u: p.create(USER, "x" * 101), InvalidInputError, "101 characters", id="long"
    ),
    pytest.param(
        lambda p, g, u: p.create(USER, "a\x00b"), InvalidInputError, "NUL", id="nul-in-name"
    ),
    pytest.param(lambda p, g, u: p.create(USER, 42), InvalidInputError, "text", id="name-type"),
    pytest.param(lambda p, g, u: p.rename(PLAYLIST, "\x1b[31m"), InvalidInputError, "control"),
    # ids
    pytest.param(lambda p, g, u: p.create(-1, "x"), InvalidInputError, "out of range", id="neg"),
    pytest.param(lambda p, g, u: p.create(2**63, "x"), InvalidInputError, "range", id="huge"),
    pytest.param(lambda p, g, u: p.create("1", "x"), InvalidInputError, "integer", id="str-id"),
    pytest.param(lambda p, g, u: p.create(True, "x"), InvalidInputError, "integer", id="bool-id"),
    pytest.param(lambda p, g, u: p.get(UNKNOWN), NotFoundError, "does not exist", id="get-unk"),
    pytest.param(lambda p, g, u: p.delete(UNKNOWN), NotFoundError, "does not exist", id="del-unk"),
    pytest.param(lambda p, g, u: p.rename(UNKNOWN, "y"), NotFoundError, "does not exist"),
    pytest.param(
        lambda p, g, u: p.create(UNKNOWN, "x"), NotFoundError, "ensure_user", id="owner-unknown"
    ),
    pytest.param(
        lambda p, g, u: p.create(USER, "x", guild_id=UNKNOWN), NotFoundError, "ensure_guild"
    ),
    pytest.param(lambda p, g, u: p.add_track(UNKNOWN, GOOD_TRACK), NotFoundError, "does not exist"),
    pytest.param(
        lambda p, g, u: p.add_track(PLAYLIST, GOOD_TRACK, added_by=UNKNOWN),
        NotFoundError,
        "not known",
        id="added-by-unknown",
    ),
    # positions
    pytest.param(
        lambda p, g, u: p.add_track(PLAYLIST, GOOD_TRACK, position=-1),
        InvalidInputError,
        "negative",
        id="negative-position",
    ),
    pytest.param(
        lambda p, g, u: p.add_track(PLAYLIST, GOOD_TRACK, position=99),
        InvalidInputError,
        "past the end",
        id="position-past-end",
    ),
    pytest.param(lambda p, g, u: p.move_track(PLAYLIST, 0, -3), InvalidInputError, "negative"),
    pytest.param(lambda p, g, u: p.move_track(PLAYLIST, 0, 5), NotFoundError, "no track at"),
    pytest.param(
        lambda p, g, u: p.move_track(PLAYLIST, 0, 2**40), InvalidInputError, "out of range"
    ),
    pytest.param(lambda p, g, u: p.remove_track(PLAYLIST, 1.5), InvalidInputError, "integer"),
    # tracks
    pytest.param(
        lambda p, g, u: p.add_track(PLAYLIST, {"source_url": "", "title": "t"}),
        InvalidInputError,
        "source_url",
        id="empty-url",
    ),
    pytest.param(
        lambda p, g, u: p.add_track(PLAYLIST, {"source_url": "https://x/\x00", "title": "t"}),
        InvalidInputError,
        "control",
        id="nul-in-url",
    ),
    pytest.param(
        lambda p, g, u: p.add_track(PLAYLIST, {**GOOD_TRACK, "title": "t" * 301}),
        InvalidInputError,
        "title",
        id="long-title",
    ),
    pytest.param(
        lambda p, g, u: p.add_track(PLAYLIST, {**GOOD_TRACK, "duration_seconds": -5}),
        InvalidInputError,
        "duration_seconds",
        id="negative-duration",
    ),
    pytest.param(
        lambda p, g, u: p.add_track(PLAYLIST, {**GOOD_TRACK, "extra": {"k": "a\x00b"}}),
        InvalidInputError,
        "refused the value",
        id="nul-in-json",
    ),
    pytest.param(
        lambda p, g, u: p.add_track(PLAYLIST, {**GOOD_TRACK, "surprise": 1}),
        InvalidInputError,
        "surprise",
        id="unknown-field",
    ),
    pytest.param(
        lambda p, g, u: p.add_tracks(PLAYLIST, [GOOD_TRACK, {"source_url": "u"}]),
        InvalidInputError,
        "track 1",
        id="bad-track-in-import",
    ),
    # guild settings
    pytest.param(
        lambda p, g, u: g.update(GUILD, {"default_volume": 201}),
        InvalidInputError,
        "default_volume",
        id="volume-high",
    ),
    pytest.param(
        lambda p, g, u: g.update(GUILD, {"default_volume": "80"}),
        InvalidInputError,
        "default_volume",
        id="volume-as-text",
    ),
    pytest.param(
        lambda p, g, u: g.update(GUILD, {"locale": "xx-XX"}),
        InvalidInputError,
        "unknown locale",
        id="unknown-locale",
    ),
    pytest.param(
        lambda p, g, u: g.update(GUILD, {"prefix": " !"}), InvalidInputError, "prefix", id="prefix"
    ),
    pytest.param(
        lambda p, g, u: g.update(GUILD, {"prefix": None}), InvalidInputError, "prefix", id="none"
    ),
    pytest.param(lambda p, g, u: g.update(GUILD, {"colour": "red"}), InvalidInputError, "colour"),
    pytest.param(lambda p, g, u: g.update(UNKNOWN, {"prefix": "?"}), NotFoundError, "ensure_guild"),
    pytest.param(lambda p, g, u: g.ensure_guild(GUILD, ""), InvalidInputError, "empty"),
    # preferences
    pytest.param(
        lambda p, g, u: u.set(USER, {"preferred_volume": -1}), InvalidInputError, "volume"
    ),
    pytest.param(
        lambda p, g, u: u.set(USER, {"repeat_mode": "sometimes"}), InvalidInputError, "repeat"
    ),
    pytest.param(lambda p, g, u: u.set(USER, {"autoplay": "yes"}), InvalidInputError, "autoplay"),
    pytest.param(lambda p, g, u: u.set(UNKNOWN, {"autoplay": True}), NotFoundError, "ensure_user"),
    pytest.param(lambda p, g, u: u.ensure_user(USER, "n" * 33), InvalidInputError, "33"),
]


@pytest.fixture
async def populated(db: Database) -> Database:
    async with db.session() as session:
        await UserPreferencesRepository(session).ensure_user(USER, "user")
        await GuildSettingsRepository(session).ensure_guild(GUILD, "guild")
        await GuildSettingsRepository(session).update(GUILD, {"prefix": "?"})
        playlists = PlaylistRepository(session)
        playlist = await playlists.create(USER, "mine")
        assert playlist.id == PLAYLIST
        await playlists.add_track(PLAYLIST, {"source_url": "https://music.example/1", "title": "1"})
    return db


@pytest.mark.parametrize(("call", "error", "says"), CASES)
async def test_bad_input_raises_a_typed_error_and_changes_nothing(
    populated: Database,
    migrated: Settings,
    call: Call,
    error: type[RepositoryError],
    says: str,
) -> None:
    async def unit_of_work() -> None:
        async with populated.session() as session:
            result: Awaitable[object] = call(
                PlaylistRepository(session),
                GuildSettingsRepository(session),
                UserPreferencesRepository(session),
            )
            await result

    before = table_rows(migrated)
    with pytest.raises(error, match=says):
        await unit_of_work()
    assert table_rows(migrated) == before
