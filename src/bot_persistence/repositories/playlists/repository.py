"""The playlist repository: the playlist calls, sharing, and copy/export/import, in one class."""

from __future__ import annotations

from bot_persistence.repositories.playlists.sharing import PlaylistSharing
from bot_persistence.repositories.playlists.transfer import PlaylistTransfer

__all__ = ["PlaylistRepository"]


class PlaylistRepository(PlaylistSharing, PlaylistTransfer):
    """Playlists, their tracks, shares and transfers, inside one unit of work.

    The calls live in modules by job: :mod:`.store` (playlists and their
    tracks), :mod:`.sharing` (guild lists, shares) and :mod:`.transfer`
    (copy, export, import).
    """
