"""What each guild played: recent history (bounded per guild) and running play counts."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, func, text
from sqlalchemy.orm import Mapped, mapped_column

from bot_persistence.models.base import Base, Snowflake

__all__ = ["PlayHistory", "TrackPlays"]


class PlayHistory(Base):
    """One track played in one guild, at the request of a user (NULL: autoplay, or forgotten).

    Kept to the newest ``BOT_DB_HISTORY_LIMIT`` rows per guild; the index on
    ``(guild_id, played_at, id)`` serves both "recent in this guild" and the trim,
    which reads at most that many index entries, never the whole table.
    """

    __tablename__ = "play_history"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    guild_id: Mapped[int] = mapped_column(Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        Snowflake, ForeignKey("users.id", ondelete="SET NULL")
    )
    track_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tracks.id", ondelete="RESTRICT"), index=True
    )
    played_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index(None, "guild_id", "played_at", "id"),
        Index(None, "user_id", "played_at", "id"),
    )


class TrackPlays(Base):
    """How often a guild played a track, counted as it is played ("most played").

    A counter rather than a ``count(*)`` over the history: the history is trimmed,
    the counts are not, and reading a guild's top tracks stays one index scan.
    """

    __tablename__ = "track_plays"

    guild_id: Mapped[int] = mapped_column(
        Snowflake, ForeignKey("guilds.id", ondelete="CASCADE"), primary_key=True
    )
    track_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tracks.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
    play_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    last_played_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("play_count >= 0", name="play_count_not_negative"),
        Index(None, "guild_id", "play_count"),
    )
