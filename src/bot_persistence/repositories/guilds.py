"""Guilds the bot is in, and each guild's settings.

A guild without a settings row uses the defaults; the first write creates the
row with an upsert, so two shards writing a new guild's settings at once still
leave exactly one row.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field, field_validator

from bot_persistence.repositories.base import (
    MAX_BIGINT,
    Repository,
    StrictModel,
    has_control_characters,
)
from bot_persistence.repositories.keyed import KeyedSettings, OwnerTable

__all__ = ["KNOWN_LOCALES", "GuildConfig", "GuildSettingsRepository", "GuildSettingsUpdate"]

#: The locales Discord offers (``discord.Locale``); a guild's locale is one of them.
KNOWN_LOCALES = frozenset(
    {
        "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu",
        "nl", "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru",
        "uk", "hi", "th", "zh-CN", "ja", "zh-TW", "ko",
    }
)  # fmt: skip


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


_GUILDS = OwnerTable("guilds", what="guild", name_column="name", name_label="guild name")
_SETTINGS = KeyedSettings(
    "guild_settings",
    key="guild_id",
    update=GuildSettingsUpdate,
    stored=GuildConfig,
    what="guild settings",
    not_found="guild {id} is not known; record it with ensure_guild first",
)


class GuildSettingsRepository(Repository):
    """Guilds and their settings, inside one unit of work."""

    async def ensure_guild(self, guild_id: int, name: str) -> None:
        """Record the guild (or its new name): an upsert that writes only on a change."""
        await _GUILDS.ensure(self.session, guild_id, name)

    async def get(self, guild_id: int) -> GuildConfig:
        """The guild's settings, or the defaults when nobody changed one yet."""
        return await _SETTINGS.get(self.session, guild_id)

    async def update(
        self, guild_id: int, changes: GuildSettingsUpdate | Mapping[str, object]
    ) -> GuildConfig:
        """Change the fields given in ``changes`` (validated); the guild must exist.

        One upsert, so a concurrent first write of a guild's settings still
        leaves exactly one row.
        """
        return await _SETTINGS.write(self.session, guild_id, changes)
