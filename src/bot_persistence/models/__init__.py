"""The schema: SQLAlchemy 2.0 typed models; ``Base.metadata`` is what migrations match."""

from bot_persistence.models.base import NAMING_CONVENTION, Base
from bot_persistence.models.guilds import Guild, GuildSettings
from bot_persistence.models.playlists import Playlist, PlaylistTrack, Track, TrackSource
from bot_persistence.models.users import RepeatMode, User, UserPreferences

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "Guild",
    "GuildSettings",
    "Playlist",
    "PlaylistTrack",
    "RepeatMode",
    "Track",
    "TrackSource",
    "User",
    "UserPreferences",
]
