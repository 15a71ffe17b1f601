"""The bot's data calls: playlists, saved queues, history, guild settings, preferences (async).

Each repository works inside one unit of work::

    async with db.session() as session:
        users = UserPreferencesRepository(session)
        playlists = PlaylistRepository(session)
        await users.ensure_user(member.id, member.name)
        playlist = await playlists.create(member.id, "road trip")

The block commits when it ends and rolls back when a call raises, so a call
that fails with one of our typed errors leaves the database unchanged.
"""

from bot_persistence.repositories.base import Repository
from bot_persistence.repositories.guilds import (
    KNOWN_LOCALES,
    GuildConfig,
    GuildSettingsRepository,
    GuildSettingsUpdate,
)
from bot_persistence.repositories.history import (
    HistoryEntry,
    HistoryRepository,
    TrackPlayCount,
)
from bot_persistence.repositories.playlists import (
    DEFAULT_MAX_TRACKS,
    EXPORT_FORMAT,
    PlaylistDetail,
    PlaylistEntry,
    PlaylistRepository,
    PlaylistShareInfo,
    PlaylistSummary,
    TrackInfo,
    TrackInput,
)
from bot_persistence.repositories.queues import MAX_QUEUE_TRACKS, QueueRepository, QueueState
from bot_persistence.repositories.users import (
    Preferences,
    PreferencesUpdate,
    UserPreferencesRepository,
)

__all__ = [
    "DEFAULT_MAX_TRACKS",
    "EXPORT_FORMAT",
    "KNOWN_LOCALES",
    "MAX_QUEUE_TRACKS",
    "GuildConfig",
    "GuildSettingsRepository",
    "GuildSettingsUpdate",
    "HistoryEntry",
    "HistoryRepository",
    "PlaylistDetail",
    "PlaylistEntry",
    "PlaylistRepository",
    "PlaylistShareInfo",
    "PlaylistSummary",
    "Preferences",
    "PreferencesUpdate",
    "QueueRepository",
    "QueueState",
    "Repository",
    "TrackInfo",
    "TrackInput",
    "TrackPlayCount",
    "UserPreferencesRepository",
]
