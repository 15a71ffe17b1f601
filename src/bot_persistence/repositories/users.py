"""Users the bot has seen, and each user's playback preferences.

A Discord bot learns a user as an id and a name from the event it handles;
:meth:`UserPreferencesRepository.ensure_user` records them (an upsert), and
every row that refers to a user needs it first.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from bot_persistence.models import RepeatMode, User, UserPreferences
from bot_persistence.repositories.base import (
    Repository,
    StrictModel,
    check_id,
    check_text,
    translate_constraint_errors,
    validate,
)

__all__ = ["Preferences", "PreferencesUpdate", "UserPreferencesRepository"]

#: The longest Discord username (and the width of ``users.username``).
MAX_USERNAME_LENGTH = 32


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


_FIELDS = tuple(PreferencesUpdate.model_fields)


class UserPreferencesRepository(Repository):
    """Users and their preferences, inside one unit of work."""

    async def ensure_user(self, user_id: int, username: str) -> None:
        """Record the user (or their new name): an upsert that writes only on a change."""
        user_id = check_id(user_id, "user id")
        username = check_text(username, "username", max_length=MAX_USERNAME_LENGTH)
        statement = insert(User).values(id=user_id, username=username)
        statement = statement.on_conflict_do_update(
            index_elements=[User.id],
            set_={"username": statement.excluded.username, "updated_at": func.now()},
            where=User.username.is_distinct_from(statement.excluded.username),
        )
        await self.session.execute(statement)

    async def get(self, user_id: int) -> Preferences:
        """The user's preferences, or the defaults when they never changed one."""
        user_id = check_id(user_id, "user id")
        row = (
            await self.session.execute(
                select(*(getattr(UserPreferences, name) for name in _FIELDS)).where(
                    UserPreferences.user_id == user_id
                )
            )
        ).one_or_none()
        if row is None:
            return Preferences(user_id=user_id)
        return Preferences.model_construct(user_id=user_id, stored=True, **row._asdict())

    async def set(
        self, user_id: int, changes: PreferencesUpdate | Mapping[str, object]
    ) -> Preferences:
        """Change the fields given in ``changes``; the user must exist (``ensure_user``)."""
        user_id = check_id(user_id, "user id")
        update: PreferencesUpdate = validate(PreferencesUpdate, changes, "preferences")
        values = {name: getattr(update, name) for name in update.model_fields_set}
        if not values:
            return await self.get(user_id)
        statement = insert(UserPreferences).values(user_id=user_id, **values)
        upsert = statement.on_conflict_do_update(
            index_elements=[UserPreferences.user_id],
            set_={**{name: statement.excluded[name] for name in values}, "updated_at": func.now()},
        ).returning(*(getattr(UserPreferences, name) for name in _FIELDS))
        with translate_constraint_errors(
            not_found=f"user {user_id} is not known; record them with ensure_user first"
        ):
            row = (await self.session.execute(upsert)).one()
        return Preferences.model_construct(user_id=user_id, stored=True, **row._asdict())
