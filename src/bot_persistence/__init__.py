"""bot-persistence: PostgreSQL persistence for a Discord music bot.

The public API is re-exported here; everything else is internal. The async
data layer (``Database`` and the repositories) loads on first use, so the
``bot-db`` command line does not pay for asyncio and the ORM on every start;
so does ``Settings``, so that ``bot-db`` can set up its signal handling before
pydantic and SQLAlchemy load (an early Ctrl-C is one line too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot_persistence import errors
from bot_persistence.errors import *  # noqa: F403 - every error is public: errors.__all__ lists them
from bot_persistence.exports import lazy_exports

if TYPE_CHECKING:
    from bot_persistence.db import Database
    from bot_persistence.repositories import (
        GuildSettingsRepository,
        HistoryRepository,
        PlaylistRepository,
        QueueRepository,
        QueueState,
        TrackInput,
        UserPreferencesRepository,
    )
    from bot_persistence.settings import Settings

#: Public names that live in modules loaded on first use, and those modules.
_LAZY = {
    "Database": "bot_persistence.db",
    "GuildSettingsRepository": "bot_persistence.repositories",
    "HistoryRepository": "bot_persistence.repositories",
    "PlaylistRepository": "bot_persistence.repositories",
    "QueueRepository": "bot_persistence.repositories",
    "QueueState": "bot_persistence.repositories",
    "Settings": "bot_persistence.settings",
    "TrackInput": "bot_persistence.repositories",
    "UserPreferencesRepository": "bot_persistence.repositories",
}
__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "Database",
    "GuildSettingsRepository",
    "HistoryRepository",
    "PlaylistRepository",
    "QueueRepository",
    "QueueState",
    "Settings",
    "TrackInput",
    "UserPreferencesRepository",
]
__all__ += errors.__all__
