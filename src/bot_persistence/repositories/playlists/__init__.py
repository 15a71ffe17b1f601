"""Playlists: named, ordered lists of tracks that users own.

Split by job: ``values`` (what the calls take and give), ``_statements`` (the
SQL, built once) and ``repository`` (:class:`PlaylistRepository`, the calls).
"""

from bot_persistence.repositories.playlists.repository import PlaylistRepository
from bot_persistence.repositories.playlists.values import (
    DEFAULT_MAX_TRACKS,
    PlaylistDetail,
    PlaylistEntry,
    PlaylistSummary,
    TrackInfo,
    TrackInput,
)

__all__ = [
    "DEFAULT_MAX_TRACKS",
    "PlaylistDetail",
    "PlaylistEntry",
    "PlaylistRepository",
    "PlaylistSummary",
    "TrackInfo",
    "TrackInput",
]
