"""A guild's saved player queue: what was playing when the bot stopped, to resume after."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    SmallInteger,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from bot_persistence.models.base import Base, Snowflake
from bot_persistence.models.users import REPEAT_MODE, RepeatMode

__all__ = ["QueueTrack", "SavedQueue"]


class SavedQueue(Base):
    """The player's state for one guild: at most one saved queue per guild.

    Saved on shutdown (or periodically) and read at start-up; a save replaces
    the row and every track of the guild's queue.
    """

    __tablename__ = "saved_queues"

    guild_id: Mapped[int] = mapped_column(
        Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"), primary_key=True
    )
    voice_channel_id: Mapped[int | None] = mapped_column(Snowflake)
    text_channel_id: Mapped[int | None] = mapped_column(Snowflake)
    current_index: Mapped[int] = mapped_column(server_default=text("0"))
    position_ms: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    volume: Mapped[int] = mapped_column(SmallInteger, server_default=text("50"))
    repeat_mode: Mapped[RepeatMode] = mapped_column(
        REPEAT_MODE, server_default=RepeatMode.OFF.value
    )
    paused: Mapped[bool] = mapped_column(server_default=false())
    saved_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("current_index >= 0", name="current_index_not_negative"),
        CheckConstraint("position_ms >= 0", name="position_ms_not_negative"),
        CheckConstraint("volume BETWEEN 0 AND 200", name="volume_range"),
    )


class QueueTrack(Base):
    """A track at a 0-based position in a guild's saved queue.

    Keyed by (guild, position): the queue is written whole on every save, so
    no surrogate id and no reordering in place are needed.
    """

    __tablename__ = "queue_tracks"

    guild_id: Mapped[int] = mapped_column(
        Snowflake, ForeignKey("saved_queues.guild_id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True)
    # A track in a saved queue cannot disappear from under it.
    track_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tracks.id", ondelete="RESTRICT"), index=True
    )

    __table_args__ = (CheckConstraint("position >= 0", name="position_not_negative"),)
