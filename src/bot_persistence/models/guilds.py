"""Discord guilds (servers) the bot is in, and each guild's settings."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, SmallInteger, String, func, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot_persistence.models.base import Base, Snowflake, TimestampMixin

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

    guild: Mapped[Guild] = relationship(back_populates="settings")

    __table_args__ = (
        CheckConstraint("char_length(prefix) BETWEEN 1 AND 8", name="prefix_length"),
        CheckConstraint("default_volume BETWEEN 0 AND 200", name="default_volume_range"),
        CheckConstraint("max_queue_length BETWEEN 1 AND 10000", name="max_queue_length_range"),
    )
