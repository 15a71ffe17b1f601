"""Users the bot has seen, and each user's playback preferences.

A Discord bot learns a user as an id and a name from the event it handles;
:meth:`UserPreferencesRepository.ensure_user` records them (an upsert), and
every row that refers to a user needs it first.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from pydantic import Field
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.dml import ReturningInsert

from bot_persistence.models import Base, RepeatMode
from bot_persistence.repositories.base import (
    Repository,
    StrictModel,
    check_id,
    check_text,
    from_stored_row,
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

# Statements are built once, with bind parameters (see guilds.py for why).
_users = Base.metadata.tables["users"]
_preferences = Base.metadata.tables["user_preferences"]
_new_user = pg_insert(_users).values(id=bindparam("user_id"), username=bindparam("username"))
_ENSURE_USER = _new_user.on_conflict_do_update(
    index_elements=[_users.c.id],
    set_={"username": _new_user.excluded.username, "updated_at": func.now()},
    where=_users.c.username.is_distinct_from(_new_user.excluded.username),
)
_GET = select(*(_preferences.c[name] for name in _FIELDS)).where(
    _preferences.c.user_id == bindparam("user_id")
)


@functools.lru_cache(maxsize=64)
def _upsert(fields: tuple[str, ...]) -> ReturningInsert[Any]:
    """The upsert writing exactly ``fields``: one statement per set of fields, built once."""
    new = pg_insert(_preferences).values(
        user_id=bindparam("user_id"), **{name: bindparam(name) for name in fields}
    )
    return new.on_conflict_do_update(
        index_elements=[_preferences.c.user_id],
        set_={**{name: new.excluded[name] for name in fields}, "updated_at": func.now()},
    ).returning(*(_preferences.c[name] for name in _FIELDS))


def _stored(user_id: int, row: tuple[Any, ...]) -> Preferences:
    """The Preferences a row of ``_FIELDS`` holds."""
    return from_stored_row(Preferences, _FIELDS, row, user_id=user_id, stored=True)


class UserPreferencesRepository(Repository):
    """Users and their preferences, inside one unit of work."""

    async def ensure_user(self, user_id: int, username: str) -> None:
        """Record the user (or their new name): an upsert that writes only on a change."""
        user_id = check_id(user_id, "user id")
        username = check_text(username, "username", max_length=MAX_USERNAME_LENGTH)
        await self.session.execute(_ENSURE_USER, {"user_id": user_id, "username": username})

    async def get(self, user_id: int) -> Preferences:
        """The user's preferences, or the defaults when they never changed one."""
        user_id = check_id(user_id, "user id")
        row = (await self.session.execute(_GET, {"user_id": user_id})).one_or_none()
        if row is None:
            return Preferences(user_id=user_id)
        return _stored(user_id, row)

    async def set(
        self, user_id: int, changes: PreferencesUpdate | Mapping[str, object]
    ) -> Preferences:
        """Change the fields given in ``changes``; the user must exist (``ensure_user``)."""
        user_id = check_id(user_id, "user id")
        update = validate(PreferencesUpdate, changes, "preferences")
        fields = tuple(sorted(update.model_fields_set))
        if not fields:
            return await self.get(user_id)
        values = {name: getattr(update, name) for name in fields}
        with translate_constraint_errors(
            not_found=f"user {user_id} is not known; record them with ensure_user first"
        ):
            row = (
                await self.session.execute(_upsert(fields), {"user_id": user_id, **values})
            ).one()
        return _stored(user_id, row)
