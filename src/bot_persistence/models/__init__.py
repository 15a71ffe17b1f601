"""The schema: SQLAlchemy 2.0 typed models; ``Base.metadata`` is what migrations match."""

from bot_persistence.models.base import NAMING_CONVENTION, Base
from bot_persistence.models.guilds import Guild, GuildSettings
from bot_persistence.models.history import PlayHistory, TrackPlays
from bot_persistence.models.playlists import (
    Playlist,
    PlaylistScope,
    PlaylistShare,
    PlaylistTrack,
    Track,
    TrackSource,
)
from bot_persistence.models.queues import QueueTrack, SavedQueue
from bot_persistence.models.users import RepeatMode, User, UserPreferences

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "Guild",
    "GuildSettings",
    "PlayHistory",
    "Playlist",
    "PlaylistScope",
    "PlaylistShare",
    "PlaylistTrack",
    "QueueTrack",
    "RepeatMode",
    "SavedQueue",
    "Track",
    "TrackPlays",
    "TrackSource",
    "User",
    "UserPreferences",
]
