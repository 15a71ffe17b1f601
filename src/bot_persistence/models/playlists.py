"""Playlists users own, the tracks the bot knows, and the ordered link between them."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot_persistence.models.base import Base, Snowflake, TimestampMixin, value_enum
from bot_persistence.models.users import User

__all__ = ["Playlist", "PlaylistScope", "PlaylistShare", "PlaylistTrack", "Track", "TrackSource"]


class TrackSource(str, enum.Enum):
    """Where a track is played from, told by its URL's host; ``other`` for any we do not know."""

    YOUTUBE = "youtube"
    SOUNDCLOUD = "soundcloud"
    BANDCAMP = "bandcamp"
    SPOTIFY = "spotify"
    OTHER = "other"

    @classmethod
    def from_url(cls, url: str) -> TrackSource:
        """The source a URL's host tells (``www.youtube.com`` and ``youtu.be`` are YouTube).

        The same rule the migration that added ``tracks.source`` backfilled with.
        """
        host = (urlsplit(url.strip()).hostname or "").lower()
        for source, domains in _SOURCE_DOMAINS.items():
            if any(host == domain or host.endswith(f".{domain}") for domain in domains):
                return source
        return cls.OTHER


_SOURCE_DOMAINS: dict[TrackSource, tuple[str, ...]] = {
    TrackSource.YOUTUBE: ("youtube.com", "youtu.be"),
    TrackSource.SOUNDCLOUD: ("soundcloud.com",),
    TrackSource.BANDCAMP: ("bandcamp.com",),
    TrackSource.SPOTIFY: ("spotify.com",),
}


class PlaylistScope(str, enum.Enum):
    """Whose a playlist is: one user's (``user``) or a whole guild's (``guild``)."""

    USER = "user"
    GUILD = "guild"


class Playlist(TimestampMixin, Base):
    """A named, ordered list of tracks, a user's own or a guild's.

    A user-scope playlist's name is unique among its owner's, a guild-scope one's
    among its guild's: two partial unique indexes, one per scope. A guild
    playlist keeps existing when its creator asks to be forgotten (``owner_id``
    becomes NULL); a user playlist always has its owner.
    """

    __tablename__ = "playlists"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    owner_id: Mapped[int | None] = mapped_column(
        Snowflake, ForeignKey("users.id", ondelete="CASCADE")
    )
    # The guild it belongs to (guild scope) or was made in (user scope); a user's
    # playlist outlives the bot leaving that guild.
    guild_id: Mapped[int | None] = mapped_column(
        Snowflake, ForeignKey("guilds.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[PlaylistScope] = mapped_column(
        value_enum(PlaylistScope, "playlist_scope"),
        server_default=PlaylistScope.USER.value,
    )

    owner: Mapped[User | None] = relationship(back_populates="playlists")
    entries: Mapped[list[PlaylistTrack]] = relationship(
        back_populates="playlist",
        order_by="PlaylistTrack.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    __table_args__ = (
        CheckConstraint("char_length(name) BETWEEN 1 AND 100", name="name_length"),
        CheckConstraint(
            "scope = 'user' AND owner_id IS NOT NULL OR scope = 'guild' AND guild_id IS NOT NULL",
            name="scope_has_its_key",
        ),
        Index(None, "guild_id"),
        Index(
            "uq_playlists_user_scope_name",
            "owner_id",
            "name",
            unique=True,
            postgresql_where=text("scope = 'user'"),
        ),
        Index(
            "uq_playlists_guild_scope_name",
            "guild_id",
            "name",
            unique=True,
            postgresql_where=text("scope = 'guild'"),
        ),
    )


class PlaylistShare(Base):
    """A playlist shared with one user, to play (``can_edit`` false) or also to edit."""

    __tablename__ = "playlist_shares"

    playlist_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        Snowflake, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    can_edit: Mapped[bool] = mapped_column(server_default=false())
    shared_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class Track(Base):
    """A playable track, known once by its source URL however many playlists hold it."""

    __tablename__ = "tracks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    source_url: Mapped[str] = mapped_column(Text, unique=True)
    title: Mapped[str] = mapped_column(String(300))
    artist: Mapped[str | None] = mapped_column(String(300))
    duration_seconds: Mapped[int | None]
    # Source-specific details (thumbnails, ids, chapter marks) whose shape differs
    # per source: the one truly open-shaped column, hence JSONB.
    extra: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    # Lets the player pick the right extractor without parsing the URL again.
    source: Mapped[TrackSource] = mapped_column(
        value_enum(TrackSource, "track_source"),
        server_default=TrackSource.OTHER.value,
    )
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        CheckConstraint("char_length(title) > 0", name="title_not_empty"),
        CheckConstraint("duration_seconds >= 0", name="duration_not_negative"),
    )


class PlaylistTrack(Base):
    """A track at a position in a playlist; positions are 0-based and unique per playlist.

    The position constraint is DEFERRABLE so a move can shift a run of rows in one
    UPDATE: PostgreSQL checks a non-deferrable unique constraint row by row and
    would reject the shift half-way.
    """

    __tablename__ = "playlist_tracks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    playlist_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("playlists.id", ondelete="CASCADE")
    )
    # A track in use cannot disappear from under a playlist.
    track_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("tracks.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int]
    added_by: Mapped[int | None] = mapped_column(
        Snowflake, ForeignKey("users.id", ondelete="SET NULL")
    )
    added_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())

    playlist: Mapped[Playlist] = relationship(back_populates="entries")
    track: Mapped[Track] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        UniqueConstraint("playlist_id", "position", deferrable=True, initially="IMMEDIATE"),
        CheckConstraint("position >= 0", name="position_not_negative"),
    )
