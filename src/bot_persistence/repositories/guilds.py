"""Guilds the bot is in, and each guild's settings.

A guild without a settings row uses the defaults; the first write creates the
row with an upsert, so two shards writing a new guild's settings at once still
leave exactly one row. The settings include what a music bot plays by: DJ-only
mode and its DJ roles, the volume cap, the vote-skip ratio, the 24/7 channel,
leaving after idle seconds, the guild's repeat mode and its request channel.

:meth:`GuildSettingsRepository.remove` is the answer to a guild's deletion
request (or the bot leaving it for good): everything kept about the guild goes
in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from sqlalchemy import BigInteger, bindparam, delete

from bot_persistence.models import Base, PlaylistScope, RepeatMode
from bot_persistence.repositories.base import (
    MAX_BIGINT,
    Repository,
    StrictModel,
    check_id,
    has_control_characters,
    validate,
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


#: The most DJ roles a guild may name.
MAX_DJ_ROLES = 25


class GuildSettingsUpdate(StrictModel):
    """The settings to change; fields left out keep their value. Defaults match the table's."""

    prefix: str = Field(default="!", min_length=1, max_length=8)
    dj_role_id: int | None = Field(default=None, gt=0, le=MAX_BIGINT)
    default_volume: int = Field(default=50, ge=0, le=200)
    locale: str = "en-US"
    announce_channel_id: int | None = Field(default=None, gt=0, le=MAX_BIGINT)
    announce_now_playing: bool = True
    max_queue_length: int = Field(default=500, ge=1, le=10_000)
    dj_only: bool = False
    #: The DJ roles (at most 25). ``dj_role_id``, the single role of old, is kept
    #: equal to the first of them until a later release drops it.
    dj_role_ids: list[Annotated[int, Field(gt=0, le=MAX_BIGINT)]] = Field(
        default_factory=list, max_length=MAX_DJ_ROLES
    )
    max_volume: int = Field(default=200, ge=0, le=200)
    vote_skip_ratio: float = Field(default=0.5, gt=0, le=1, strict=False, allow_inf_nan=False)
    #: The 24/7 channel the bot stays in when idle; None: it leaves.
    stay_channel_id: int | None = Field(default=None, gt=0, le=MAX_BIGINT)
    idle_disconnect_seconds: int = Field(default=300, ge=0, le=86_400)
    # A bot command hands over "queue" as text: accept the value as well as the member.
    repeat_mode: RepeatMode = Field(default=RepeatMode.OFF, strict=False)
    request_channel_id: int | None = Field(default=None, gt=0, le=MAX_BIGINT)

    @model_validator(mode="after")
    def _volume_within_its_cap(self) -> GuildSettingsUpdate:
        given = self.model_fields_set
        if {"default_volume", "max_volume"} <= given and self.default_volume > self.max_volume:
            raise ValueError(
                f"default_volume {self.default_volume} is above max_volume {self.max_volume}"
            )
        return self

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
_guilds = Base.metadata.tables["guilds"]
_playlists = Base.metadata.tables["playlists"]
_GUILD = bindparam("guild_id", type_=BigInteger)
# Guild playlists first: their guild_id would be set NULL by the guild's foreign key,
# which their scope forbids. Everything else goes with the guild row, by cascade.
_REMOVE_PLAYLISTS = delete(_playlists).where(
    _playlists.c.guild_id == _GUILD, _playlists.c.scope == PlaylistScope.GUILD
)
_REMOVE_GUILD = delete(_guilds).where(_guilds.c.id == _GUILD).returning(_guilds.c.id)


def _with_dj_role_kept(update: GuildSettingsUpdate) -> GuildSettingsUpdate:
    """``update`` writing ``dj_role_id`` and ``dj_role_ids`` together, whichever was given.

    Old code reads ``dj_role_id``, new code ``dj_role_ids``: while both run,
    every write keeps the old column equal to the first of the new one.
    """
    given = update.model_fields_set
    if ("dj_role_ids" in given) == ("dj_role_id" in given):
        return update
    values = {name: getattr(update, name) for name in given}
    if "dj_role_ids" in given:
        values["dj_role_id"] = update.dj_role_ids[0] if update.dj_role_ids else None
    else:
        values["dj_role_ids"] = [] if update.dj_role_id is None else [update.dj_role_id]
    return GuildSettingsUpdate.model_validate(values)


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
        leaves exactly one row. ``default_volume`` above ``max_volume`` is
        refused (InvalidInputError), given together or one against the stored
        other.
        """
        update = _with_dj_role_kept(validate(GuildSettingsUpdate, changes, "guild settings"))
        return await _SETTINGS.write(self.session, guild_id, update)

    async def remove(self, guild_id: int) -> bool:
        """Delete everything kept about the guild; True when it was known.

        The bot's answer to a guild's deletion request (or to leaving it for
        good): the guild, its settings, its saved queue, its play history and
        counts, and its guild playlists with their shares go in this unit of
        work, all or nothing. Users' own playlists made there stay theirs
        (they no longer name the guild). Removing a guild that is not known
        changes nothing, so running it again is safe.
        """
        guild_id = check_id(guild_id, "guild id")
        await self.session.execute(_REMOVE_PLAYLISTS, {"guild_id": guild_id})
        removed = await self.session.execute(_REMOVE_GUILD, {"guild_id": guild_id})
        return removed.first() is not None
