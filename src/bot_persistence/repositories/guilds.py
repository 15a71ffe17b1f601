"""Guilds the bot is in, and each guild's settings.

A guild without a settings row uses the defaults; the first write creates the
row with an upsert, so two shards writing a new guild's settings at once still
leave exactly one row.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.dml import ReturningInsert

from bot_persistence.models import Base
from bot_persistence.repositories.base import (
    MAX_BIGINT,
    Repository,
    StrictModel,
    check_id,
    check_text,
    from_stored_row,
    has_control_characters,
    translate_constraint_errors,
    validate,
)

__all__ = ["KNOWN_LOCALES", "GuildConfig", "GuildSettingsRepository", "GuildSettingsUpdate"]

#: The locales Discord offers (``discord.Locale``); a guild's locale is one of them.
KNOWN_LOCALES = frozenset(
    {
        "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu",
        "nl", "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru",
        "uk", "hi", "th", "zh-CN", "ja", "zh-TW", "ko",
    }
)  # fmt: skip

#: The longest guild name Discord allows (and the width of ``guilds.name``).
MAX_GUILD_NAME_LENGTH = 100


class GuildSettingsUpdate(StrictModel):
    """The settings to change; fields left out keep their value. Defaults match the table's."""

    prefix: str = Field(default="!", min_length=1, max_length=8)
    dj_role_id: int | None = Field(default=None, gt=0, le=MAX_BIGINT)
    default_volume: int = Field(default=50, ge=0, le=200)
    locale: str = "en-US"
    announce_channel_id: int | None = Field(default=None, gt=0, le=MAX_BIGINT)
    announce_now_playing: bool = True
    max_queue_length: int = Field(default=500, ge=1, le=10_000)

    @field_validator("prefix")
    @classmethod
    def _prefix_is_printable(cls, value: str) -> str:
        if value != value.strip() or has_control_characters(value):
            raise ValueError("a prefix has no spaces at its ends and no control characters")
        return value

    @field_validator("locale")
    @classmethod
    def _locale_is_known(cls, value: str) -> str:
        if value not in KNOWN_LOCALES:
            raise ValueError(f"unknown locale {value!r}; use one Discord offers, e.g. en-US, de")
        return value


class GuildConfig(GuildSettingsUpdate):
    """A guild's settings; ``stored`` is False when these are the defaults (no row yet)."""

    guild_id: int
    stored: bool = False


_FIELDS = tuple(GuildSettingsUpdate.model_fields)

# Statements are built once, with bind parameters: building and caching a
# statement per call would cost more than its round trip.
_guilds = Base.metadata.tables["guilds"]
_settings = Base.metadata.tables["guild_settings"]
_new_guild = pg_insert(_guilds).values(id=bindparam("guild_id"), name=bindparam("name"))
_ENSURE_GUILD = _new_guild.on_conflict_do_update(
    index_elements=[_guilds.c.id],
    set_={"name": _new_guild.excluded.name},
    where=_guilds.c.name.is_distinct_from(_new_guild.excluded.name),
)
_GET = select(*(_settings.c[name] for name in _FIELDS)).where(
    _settings.c.guild_id == bindparam("guild_id")
)


@functools.lru_cache(maxsize=256)
def _upsert(fields: tuple[str, ...]) -> ReturningInsert[Any]:
    """The upsert writing exactly ``fields``: one statement per set of fields, built once."""
    new = pg_insert(_settings).values(
        guild_id=bindparam("guild_id"), **{name: bindparam(name) for name in fields}
    )
    return new.on_conflict_do_update(
        index_elements=[_settings.c.guild_id],
        set_={**{name: new.excluded[name] for name in fields}, "updated_at": func.now()},
    ).returning(*(_settings.c[name] for name in _FIELDS))


def _stored(guild_id: int, row: tuple[Any, ...]) -> GuildConfig:
    """The GuildConfig a row of ``_FIELDS`` holds."""
    return from_stored_row(GuildConfig, _FIELDS, row, guild_id=guild_id, stored=True)


class GuildSettingsRepository(Repository):
    """Guilds and their settings, inside one unit of work."""

    async def ensure_guild(self, guild_id: int, name: str) -> None:
        """Record the guild (or its new name): an upsert that writes only on a change."""
        guild_id = check_id(guild_id, "guild id")
        name = check_text(name, "guild name", max_length=MAX_GUILD_NAME_LENGTH)
        await self.session.execute(_ENSURE_GUILD, {"guild_id": guild_id, "name": name})

    async def get(self, guild_id: int) -> GuildConfig:
        """The guild's settings, or the defaults when nobody changed one yet."""
        guild_id = check_id(guild_id, "guild id")
        row = (await self.session.execute(_GET, {"guild_id": guild_id})).one_or_none()
        if row is None:
            return GuildConfig(guild_id=guild_id)
        return _stored(guild_id, row)

    async def update(
        self, guild_id: int, changes: GuildSettingsUpdate | Mapping[str, object]
    ) -> GuildConfig:
        """Change the fields given in ``changes`` (validated); the guild must exist.

        One upsert, so a concurrent first write of a guild's settings still
        leaves exactly one row.
        """
        guild_id = check_id(guild_id, "guild id")
        update = validate(GuildSettingsUpdate, changes, "guild settings")
        fields = tuple(sorted(update.model_fields_set))
        if not fields:
            return await self.get(guild_id)
        values = {name: getattr(update, name) for name in fields}
        with translate_constraint_errors(
            not_found=f"guild {guild_id} is not known; record it with ensure_guild first"
        ):
            row = (
                await self.session.execute(_upsert(fields), {"guild_id": guild_id, **values})
            ).one()
        return _stored(guild_id, row)
