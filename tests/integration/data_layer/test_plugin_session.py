"""The plugin's ``bot_db_session``: the repositories' own Session, undone after each test."""

from __future__ import annotations

import pytest

from bot_persistence.errors import AlreadyExistsError, NotFoundError
from bot_persistence.repositories import PlaylistRepository, UserPreferencesRepository
from bot_persistence.session import Session

NEWCOMER = 4242


async def test_1_repositories_write_through_the_savepoint_session(bot_db_session: Session) -> None:
    users = UserPreferencesRepository(bot_db_session)
    await users.ensure_user(NEWCOMER, "newcomer")
    created = await PlaylistRepository(bot_db_session).create(NEWCOMER, "first")
    assert created.owner_id == NEWCOMER
    assert (await users.get(NEWCOMER)).stored is False


async def test_2_the_last_tests_writes_are_gone(bot_db_session: Session) -> None:
    with pytest.raises(NotFoundError, match="no playlist named"):
        await PlaylistRepository(bot_db_session).get_by_name(NEWCOMER, "first")


async def test_3_an_expected_error_is_ours(bot_db_session: Session) -> None:
    users = UserPreferencesRepository(bot_db_session)
    await users.ensure_user(NEWCOMER, "newcomer")
    playlists = PlaylistRepository(bot_db_session)
    await playlists.create(NEWCOMER, "twice")
    with pytest.raises(AlreadyExistsError):
        await playlists.create(NEWCOMER, "twice")


async def test_a_new_playlist_is_empty(bot_db_session: Session) -> None:
    # As docs/testing.md shows it.
    await UserPreferencesRepository(bot_db_session).ensure_user(42, "newcomer")
    playlists = PlaylistRepository(bot_db_session)
    created = await playlists.create(42, "road trip")
    assert (await playlists.get(created.id)).entries == ()
