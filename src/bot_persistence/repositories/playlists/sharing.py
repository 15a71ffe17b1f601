"""Guild playlists and sharing: list a guild's playlists, share one with a user, take it back.

A share is a row in ``playlist_shares``: the user may play the playlist and,
with ``can_edit``, change its tracks and name too (the checks are the edit
calls' ``by=``, see :mod:`.store`). Only the owner shares or takes a share
back; a user may also leave a share made to them. Sharing again changes
``can_edit`` (an upsert), and unsharing what is not shared changes nothing, so
a share and an unshare racing end in one state or the other, never an error.
"""

from __future__ import annotations

from bot_persistence.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from bot_persistence.repositories.base import check_id, translate_constraint_errors
from bot_persistence.repositories.playlists import _statements as sql
from bot_persistence.repositories.playlists.store import PlaylistStore
from bot_persistence.repositories.playlists.values import PlaylistShareInfo, PlaylistSummary

__all__ = ["PlaylistSharing"]


class PlaylistSharing(PlaylistStore):
    """The sharing calls of :class:`~bot_persistence.repositories.PlaylistRepository`."""

    async def list_for_guild(
        self, guild_id: int, *, limit: int = 100, offset: int = 0
    ) -> list[PlaylistSummary]:
        """The guild's playlists (guild scope) by name, with their track counts (one query)."""
        return await self._summaries(
            sql.LIST_FOR_GUILD, "guild_id", guild_id, limit=limit, offset=offset
        )

    async def list_shared_with(
        self, user_id: int, *, limit: int = 100, offset: int = 0
    ) -> list[PlaylistSummary]:
        """The playlists others shared with the user, by name (one query)."""
        return await self._summaries(
            sql.LIST_SHARED_WITH, "user_id", user_id, limit=limit, offset=offset
        )

    async def share(
        self, playlist_id: int, user_id: int, can_edit: bool = False, *, by: int | None = None
    ) -> PlaylistShareInfo:
        """Share the playlist with ``user_id`` (to edit too, with ``can_edit``).

        Sharing again replaces ``can_edit``. With ``by``, only the owner may
        share. The user must be recorded (``ensure_user``).
        """
        playlist_id = check_id(playlist_id, "playlist id")
        user_id = check_id(user_id, "user id")
        if not isinstance(can_edit, bool):
            raise InvalidInputError(
                f"can_edit must be True or False, not {type(can_edit).__name__}"
            )
        owner_id = await self._owner(playlist_id, None if by is None else check_id(by, "by"))
        if owner_id == user_id:
            raise InvalidInputError(
                f"user {user_id} owns playlist {playlist_id}; a playlist is shared with others"
            )
        params = {"pid": playlist_id, "user_id": user_id, "can_edit": can_edit}
        with translate_constraint_errors(
            not_found=f"user {user_id} is not known (record them with ensure_user first), or "
            f"playlist {playlist_id} was just deleted"
        ):
            shared_at = (await self.session.execute(sql.SHARE, params)).scalar_one()
        return PlaylistShareInfo(playlist_id, user_id, can_edit, shared_at)

    async def unshare(self, playlist_id: int, user_id: int, *, by: int | None = None) -> bool:
        """Take the share back; True when there was one. With ``by``: the owner, or the user."""
        playlist_id = check_id(playlist_id, "playlist id")
        user_id = check_id(user_id, "user id")
        if by is not None:
            by = check_id(by, "by")
            if by != user_id:
                await self._owner(playlist_id, by)
        params = {"pid": playlist_id, "user_id": user_id}
        return (await self.session.execute(sql.UNSHARE, params)).first() is not None

    async def shares(self, playlist_id: int) -> list[PlaylistShareInfo]:
        """Who the playlist is shared with, by user id."""
        playlist_id = check_id(playlist_id, "playlist id")
        rows = await self.session.execute(sql.SHARES, {"pid": playlist_id})
        return [PlaylistShareInfo(playlist_id, *row) for row in rows]

    async def _owner(self, playlist_id: int, by: int | None) -> int | None:
        """The playlist's owner; with ``by``, PermissionDeniedError unless it is them."""
        row = (await self.session.execute(sql.EDITOR, {"pid": playlist_id, "by": by})).first()
        if row is None:
            raise NotFoundError(f"playlist {playlist_id} does not exist (deleted, or a wrong id)")
        owner_id: int | None = row[0]
        if by is not None and owner_id != by:
            raise PermissionDeniedError(
                f"user {by} may not share playlist {playlist_id}: only its owner may"
            )
        return owner_id
