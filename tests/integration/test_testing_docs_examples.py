"""The examples in docs/testing.md, run as written (a doc example that fails is a bug)."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot_persistence.models import Playlist, User
from bot_persistence.testing import TestDatabase


def test_a_new_user_has_no_playlists(db_session: Session) -> None:
    db_session.add(User(id=42, username="newcomer"))
    db_session.commit()  # fine: undone after the test
    assert db_session.scalar(select(func.count()).where(Playlist.owner_id == 42)) == 0


async def test_playlist_rename_is_saved(async_db_session: AsyncSession) -> None:
    playlist = await async_db_session.get(Playlist, 1)
    assert playlist is not None
    playlist.name = "Renamed"
    await async_db_session.commit()
    renamed = await async_db_session.get(Playlist, 1)
    assert renamed is not None and renamed.name == "Renamed"


def test_two_connections_see_each_others_commits(db_clean: TestDatabase) -> None:
    with db_clean.engine.begin() as writer:
        writer.execute(text("INSERT INTO users (id, username) VALUES (7, 'seven')"))
    with db_clean.engine.connect() as reader:
        assert reader.scalar(text("SELECT username FROM users WHERE id = 7")) == "seven"
