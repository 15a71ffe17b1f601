"""Discord users the bot has seen, and each user's playback preferences."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from sqlalchemy import CheckConstraint, ForeignKey, SmallInteger, String, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot_persistence.models.base import Base, Snowflake, TimestampMixin, value_enum

if TYPE_CHECKING:
    from bot_persistence.models.playlists import Playlist

__all__ = ["REPEAT_MODE", "RepeatMode", "User", "UserPreferences"]


class RepeatMode(str, enum.Enum):
    """What the player does at the end of a track: nothing, the track again, or the queue."""

    OFF = "off"
    TRACK = "track"
    QUEUE = "queue"


#: The one ``repeat_mode`` type, shared by every column that holds a repeat mode (one
#: PostgreSQL type, created once by ``create_all`` whichever table comes first).
REPEAT_MODE = value_enum(RepeatMode, "repeat_mode")


class User(TimestampMixin, Base):
    """A Discord user, keyed by their snowflake id."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Snowflake, primary_key=True, autoincrement=False)
    username: Mapped[str] = mapped_column(String(32))

    preferences: Mapped[UserPreferences | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    playlists: Mapped[list[Playlist]] = relationship(
        back_populates="owner", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (CheckConstraint("char_length(username) > 0", name="username_not_empty"),)


class UserPreferences(TimestampMixin, Base):
    """One row per user who changed a preference; absent rows mean the defaults."""

    __tablename__ = "user_preferences"

    user_id: Mapped[int] = mapped_column(
        Snowflake, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    preferred_volume: Mapped[int] = mapped_column(SmallInteger, server_default=text("50"))
    autoplay: Mapped[bool] = mapped_column(server_default=false())
    repeat_mode: Mapped[RepeatMode] = mapped_column(
        REPEAT_MODE, server_default=RepeatMode.OFF.value
    )

    user: Mapped[User] = relationship(back_populates="preferences")

    __table_args__ = (
        CheckConstraint("preferred_volume BETWEEN 0 AND 200", name="preferred_volume_range"),
    )
