"""Users the bot has seen, and each user's playback preferences.

A Discord bot learns a user as an id and a name from the event it handles;
:meth:`UserPreferencesRepository.ensure_user` records them (an upsert), and
every row that refers to a user needs it first.

:meth:`UserPreferencesRepository.forget` is the answer to a user's deletion
request: what the bot keeps about them goes in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field
from sqlalchemy import BigInteger, bindparam, delete, func, update

from bot_persistence.models import Base, PlaylistScope, RepeatMode
from bot_persistence.repositories.base import Repository, StrictModel, check_id
from bot_persistence.repositories.keyed import KeyedSettings, OwnerTable

__all__ = ["Preferences", "PreferencesUpdate", "UserPreferencesRepository"]


class PreferencesUpdate(StrictModel):
    """The preferences to change; fields left out keep their current value."""

    preferred_volume: int = Field(default=50, ge=0, le=200)
    autoplay: bool = False
    # A bot command hands over "track" as text: accept the value as well as the member.
    repeat_mode: RepeatMode = Field(default=RepeatMode.OFF, strict=False)


class Preferences(PreferencesUpdate):
    """A user's preferences; ``stored`` is False when these are the defaults (no row yet)."""

    user_id: int
    stored: bool = False


_USERS = OwnerTable("users", what="user", name_column="username", name_label="username")
_PREFERENCES = KeyedSettings(
    "user_preferences",
    key="user_id",
    update=PreferencesUpdate,
    stored=Preferences,
    what="preferences",
    not_found="user {id} is not known; record them with ensure_user first",
)
_users = Base.metadata.tables["users"]
_playlists = Base.metadata.tables["playlists"]
_history = Base.metadata.tables["play_history"]
_USER = bindparam("user_id", type_=BigInteger)
_OWNED = _playlists.c.owner_id == _USER
# In this order: the user's playlists are locked (and deleted) before the user's row,
# the order a concurrent add_track takes them in, so the two queue rather than deadlock.
_FORGET = (
    delete(_playlists).where(_OWNED, _playlists.c.scope == PlaylistScope.USER),
    update(_playlists)
    .where(_OWNED, _playlists.c.scope == PlaylistScope.GUILD)
    .values(owner_id=None, updated_at=func.now()),
    delete(_history).where(_history.c.user_id == _USER),
)
# Cascades: preferences and shares go; entries they added to playlists keep, added_by NULL.
_FORGET_USER = delete(_users).where(_users.c.id == _USER).returning(_users.c.id)


class UserPreferencesRepository(Repository):
    """Users and their preferences, inside one unit of work."""

    async def ensure_user(self, user_id: int, username: str) -> None:
        """Record the user (or their new name): an upsert that writes only on a change."""
        await _USERS.ensure(self.session, user_id, username)

    async def get(self, user_id: int) -> Preferences:
        """The user's preferences, or the defaults when they never changed one."""
        return await _PREFERENCES.get(self.session, user_id)

    async def set(
        self, user_id: int, changes: PreferencesUpdate | Mapping[str, object]
    ) -> Preferences:
        """Change the fields given in ``changes``; the user must exist (``ensure_user``)."""
        return await _PREFERENCES.write(self.session, user_id, changes)

    async def forget(self, user_id: int) -> bool:
        """Delete what the bot keeps about the user; True when they were known.

        The bot's answer to a user's deletion request: their name and
        preferences, their own playlists, the shares made to them and their
        play history are deleted, and what they added to other playlists
        stays there without their name (``added_by`` NULL). Guild playlists
        they made stay the guild's, with no owner. All in this unit of work,
        all or nothing; forgetting a user nobody knows changes nothing, so
        running it again is safe. Play counts per track hold no user and stay.
        """
        user_id = check_id(user_id, "user id")
        params = {"user_id": user_id}
        for statement in _FORGET:
            await self.session.execute(statement, params)
        return (await self.session.execute(_FORGET_USER, params)).first() is not None
