"""Discord guilds (servers) the bot is in, and each guild's settings."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    Double,
    ForeignKey,
    SmallInteger,
    String,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot_persistence.models.base import Base, Snowflake, TimestampMixin
from bot_persistence.models.users import REPEAT_MODE, RepeatMode

__all__ = ["Guild", "GuildSettings"]


class Guild(Base):
    """A Discord guild, keyed by its snowflake id."""

    __tablename__ = "guilds"

    id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100))
    joined_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

    settings: Mapped[GuildSettings | None] = relationship(
        back_populates="guild", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (CheckConstraint("char_length(name) > 0", name="name_not_empty"),)


class GuildSettings(TimestampMixin, Base):
    """Per-guild configuration; a guild without a row uses the server defaults below."""

    __tablename__ = "guild_settings"

    guild_id: Mapped[int] = mapped_column(
        Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"), primary_key=True
    )
    prefix: Mapped[str] = mapped_column(String(8), server_default="!")
    dj_role_id: Mapped[int | None] = mapped_column(Snowflake)
    default_volume: Mapped[int] = mapped_column(SmallInteger, server_default=text("50"))
    locale: Mapped[str] = mapped_column(String(10), server_default="en-US")
    announce_channel_id: Mapped[int | None] = mapped_column(Snowflake)
    announce_now_playing: Mapped[bool] = mapped_column(server_default=true())
    max_queue_length: Mapped[int] = mapped_column(server_default=text("500"))
    # Playback settings. ``dj_role_id`` is the single role of old; ``dj_role_ids``
    # replaces it (backfilled from it) and the old column goes in a later release,
    # once no running bot reads it.
    dj_only: Mapped[bool] = mapped_column(server_default=false())
    dj_role_ids: Mapped[list[int]] = mapped_column(
        ARRAY(Snowflake), server_default=text("'{}'::bigint[]")
    )
    max_volume: Mapped[int] = mapped_column(SmallInteger, server_default=text("200"))
    vote_skip_ratio: Mapped[float] = mapped_column(Double, server_default=text("0.5"))
    # The 24/7 channel: the bot stays there when idle; NULL is off.
    stay_channel_id: Mapped[int | None] = mapped_column(Snowflake)
    idle_disconnect_seconds: Mapped[int] = mapped_column(server_default=text("300"))
    repeat_mode: Mapped[RepeatMode] = mapped_column(
        REPEAT_MODE, server_default=RepeatMode.OFF.value
    )
    request_channel_id: Mapped[int | None] = mapped_column(Snowflake)

    guild: Mapped[Guild] = relationship(back_populates="settings")

    __table_args__ = (
        CheckConstraint("char_length(prefix) BETWEEN 1 AND 8", name="prefix_length"),
        CheckConstraint("default_volume BETWEEN 0 AND 200", name="default_volume_range"),
        CheckConstraint("max_queue_length BETWEEN 1 AND 10000", name="max_queue_length_range"),
        CheckConstraint(
            "max_volume BETWEEN 0 AND 200 AND default_volume <= max_volume",
            name="max_volume_range",
        ),
        CheckConstraint("cardinality(dj_role_ids) <= 25", name="dj_role_ids_count"),
        CheckConstraint(
            "vote_skip_ratio > 0 AND vote_skip_ratio <= 1", name="vote_skip_ratio_range"
        ),
        CheckConstraint(
            "idle_disconnect_seconds BETWEEN 0 AND 86400", name="idle_disconnect_seconds_range"
        ),
    )
