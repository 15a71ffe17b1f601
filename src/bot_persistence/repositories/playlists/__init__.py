"""Playlists: named, ordered lists of tracks that users own.

Split by job: ``values`` (what the calls take and give), ``_statements`` (the
SQL, built once), ``store`` (playlists and their tracks), ``sharing`` (guild
playlists, shares), ``transfer`` (copy, export, import) and ``repository``
(:class:`PlaylistRepository`, which has all of those calls).
"""

from bot_persistence.repositories.playlists.repository import PlaylistRepository
from bot_persistence.repositories.playlists.transfer import EXPORT_FORMAT, MAX_IMPORT_BYTES
from bot_persistence.repositories.playlists.values import (
    DEFAULT_MAX_TRACKS,
    PlaylistDetail,
    PlaylistEntry,
    PlaylistShareInfo,
    PlaylistSummary,
    TrackInfo,
    TrackInput,
)

__all__ = [
    "DEFAULT_MAX_TRACKS",
    "EXPORT_FORMAT",
    "MAX_IMPORT_BYTES",
    "PlaylistDetail",
    "PlaylistEntry",
    "PlaylistRepository",
    "PlaylistShareInfo",
    "PlaylistSummary",
    "TrackInfo",
    "TrackInput",
]
