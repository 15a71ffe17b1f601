"""Users the bot has seen, and each user's playback preferences.

A Discord bot learns a user as an id and a name from the event it handles;
:meth:`UserPreferencesRepository.ensure_user` records them (an upsert), and
every row that refers to a user needs it first.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from bot_persistence.models import RepeatMode
from bot_persistence.repositories.base import Repository, StrictModel
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
