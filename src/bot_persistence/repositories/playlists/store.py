"""The playlists themselves: create, rename, list and delete them; add, move, remove tracks.

Positions are 0-based and dense (0..n-1) in every playlist; every call that
changes a playlist's entries first locks the playlist's row (an ``UPDATE`` that
also bumps ``updated_at``), so concurrent adds, moves and removes on one
playlist queue up behind each other instead of racing for a position. Calls on
different playlists do not wait for each other.

The ``(playlist_id, position)`` constraint is DEFERRABLE INITIALLY IMMEDIATE,
which PostgreSQL checks at the end of each statement rather than row by row:
that is what lets one ``UPDATE`` shift a run of positions by one. (It also means
``ON CONFLICT`` cannot use it as an arbiter, which nothing here needs.)

Tracks are shared between playlists and known once by their source URL; adding
a track that is known already reuses its row (the first metadata stays).

A call that changes a playlist takes ``by=``, the user asking: given, the
change is made only when they own the playlist or it is shared with them with
``can_edit`` (deleting it, and sharing it, need ownership); otherwise
:class:`~bot_persistence.errors.PermissionDeniedError`, nothing changed.
Left out, the bot itself is asking (an admin command, a migration) and no
check is made. The check rides on the statement that locks the playlist, so it
costs no round trip of its own in the track calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.sql import ClauseElement

from bot_persistence.errors import (
    AlreadyExistsError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from bot_persistence.models import PlaylistScope
from bot_persistence.repositories.base import (
    Repository,
    check_id,
    check_position,
    check_text,
    translate_constraint_errors,
    validate,
)
from bot_persistence.repositories.playlists import _statements as sql
from bot_persistence.repositories.playlists.values import (
    DEFAULT_MAX_TRACKS,
    MAX_PLAYLIST_NAME_LENGTH,
    PlaylistDetail,
    PlaylistEntry,
    PlaylistSummary,
    TrackInfo,
    TrackInput,
)
from bot_persistence.session import Session

__all__ = ["PlaylistStore", "check_scope"]


def check_scope(value: object) -> PlaylistScope:
    """``value`` as a PlaylistScope (``"user"`` or ``"guild"``), or a typed error."""
    if isinstance(value, PlaylistScope):
        return value
    if isinstance(value, str):
        try:
            return PlaylistScope(value)
        except ValueError:
            pass
    shown = repr(value) if isinstance(value, str) else type(value).__name__
    raise InvalidInputError(f"playlist scope {shown[:40]} is not known; use 'user' or 'guild'")


class PlaylistStore(Repository):
    """Playlists and their tracks, inside one unit of work (see :class:`Repository`)."""

    def __init__(self, session: Session, *, max_tracks: int = DEFAULT_MAX_TRACKS) -> None:
        super().__init__(session)
        self.max_tracks = max_tracks

    # -- playlists -----------------------------------------------------------------

    async def create(
        self,
        owner_id: int,
        name: str,
        guild_id: int | None = None,
        scope: PlaylistScope | str = PlaylistScope.USER,
    ) -> PlaylistSummary:
        """A new empty playlist; AlreadyExistsError when its name is taken in its scope.

        ``scope="user"`` (the default): the owner's own playlist, its name unique
        among the owner's; ``guild_id``, when given, records where it was made.
        ``scope="guild"``: the guild's playlist (``guild_id`` required), its name
        unique in the guild; ``owner_id`` is who made it. The owner (and the
        guild) must be recorded first (``ensure_user``/``ensure_guild``). Two
        concurrent creates of the same name give one playlist and one
        AlreadyExistsError: the partial unique index decides, through
        ``ON CONFLICT DO NOTHING``.
        """
        owner_id = check_id(owner_id, "owner id")
        name = check_text(name, "playlist name", max_length=MAX_PLAYLIST_NAME_LENGTH)
        if guild_id is not None:
            guild_id = check_id(guild_id, "guild id")
        scope = check_scope(scope)
        if scope is PlaylistScope.GUILD and guild_id is None:
            raise InvalidInputError("a guild playlist needs its guild_id")
        params = {"owner_id": owner_id, "name": name, "guild_id": guild_id}
        statement = sql.CREATE_GUILD if scope is PlaylistScope.GUILD else sql.CREATE
        with translate_constraint_errors(
            not_found=f"user {owner_id} or guild {guild_id} is not known; record them with "
            "ensure_user/ensure_guild first"
        ):
            row = (await self.session.execute(statement, params)).one_or_none()
        if row is None:
            whose = f"guild {guild_id}" if scope is PlaylistScope.GUILD else f"user {owner_id}"
            raise AlreadyExistsError(
                f"{whose} already has a playlist named {name!r}; pick another name"
            )
        new_id, created_at, updated_at = row
        return PlaylistSummary(
            id=new_id,
            owner_id=owner_id,
            guild_id=guild_id,
            name=name,
            track_count=0,
            created_at=created_at,
            updated_at=updated_at,
            scope=scope,
        )

    async def rename(
        self, playlist_id: int, name: str, *, by: int | None = None
    ) -> PlaylistSummary:
        """Give the playlist a new name, unique in its scope (the owner's, or the guild's)."""
        playlist_id = check_id(playlist_id, "playlist id")
        name = check_text(name, "playlist name", max_length=MAX_PLAYLIST_NAME_LENGTH)
        if by is not None:
            await self._check_editor(playlist_id, check_id(by, "by"))
        with translate_constraint_errors(
            exists=f"the owner (or, for a guild playlist, the guild) of playlist {playlist_id} "
            f"already has a playlist named {name!r}; pick another name"
        ):
            row = (
                await self.session.execute(sql.RENAME, {"pid": playlist_id, "new_name": name})
            ).one_or_none()
        if row is None:
            raise _no_playlist(playlist_id)
        return PlaylistSummary(*row)

    async def delete(self, playlist_id: int, *, by: int | None = None) -> None:
        """Delete the playlist, its entries and shares (the tracks stay known).

        With ``by``, only the owner may: an editor it is shared with may not.
        """
        playlist_id = check_id(playlist_id, "playlist id")
        if by is not None:
            await self._check_editor(playlist_id, check_id(by, "by"), owner_only=True)
        deleted = (await self.session.execute(sql.DELETE, {"pid": playlist_id})).first()
        if deleted is None:
            raise _no_playlist(playlist_id)

    async def get(self, playlist_id: int) -> PlaylistDetail:
        """The playlist with its tracks in order: two queries, however many tracks."""
        playlist_id = check_id(playlist_id, "playlist id")
        params = {"pid": playlist_id}
        head = (await self.session.execute(sql.HEAD, params)).one_or_none()
        if head is None:
            raise _no_playlist(playlist_id)
        rows = await self.session.execute(sql.ENTRIES, params)
        # ENTRIES selects the entry's columns, then the track's (TRACK_COLUMNS, TrackInfo's order).
        entries = tuple(
            PlaylistEntry(
                position=position,
                track=TrackInfo(*track),
                added_by=added_by,
                added_at=added_at,
            )
            for position, added_by, added_at, *track in rows
        )
        pid, owner_id, guild_id, name, created_at, updated_at, scope = head
        return PlaylistDetail(pid, owner_id, guild_id, name, created_at, updated_at, entries, scope)

    async def get_by_name(self, owner_id: int, name: str) -> PlaylistSummary:
        """The owner's own (user-scope) playlist called ``name``, as a user types it."""
        owner_id = check_id(owner_id, "owner id")
        name = check_text(name, "playlist name", max_length=MAX_PLAYLIST_NAME_LENGTH)
        params = {"owner_id": owner_id, "name": name}
        row = (await self.session.execute(sql.BY_NAME, params)).one_or_none()
        if row is None:
            raise NotFoundError(f"user {owner_id} has no playlist named {name!r}")
        return PlaylistSummary(*row)

    async def list_for_user(
        self, owner_id: int, *, limit: int = 100, offset: int = 0
    ) -> list[PlaylistSummary]:
        """The owner's own (user-scope) playlists by name, with their track counts (one query)."""
        return await self._summaries(sql.LIST, "owner_id", owner_id, limit=limit, offset=offset)

    async def count(self, playlist_id: int) -> int:
        """How many tracks the playlist holds."""
        playlist_id = check_id(playlist_id, "playlist id")
        found = (await self.session.execute(sql.COUNT, {"pid": playlist_id})).scalar_one_or_none()
        if found is None:
            raise _no_playlist(playlist_id)
        return int(found)

    # -- entries ---------------------------------------------------------------------

    async def add_track(
        self,
        playlist_id: int,
        track: TrackInput | Mapping[str, object],
        *,
        position: int | None = None,
        added_by: int | None = None,
        by: int | None = None,
    ) -> PlaylistEntry:
        """Add ``track`` at the end, or at ``position`` (0..count) shifting the rest down.

        ``added_by`` defaults to ``by``, the user asking.
        """
        playlist_id = check_id(playlist_id, "playlist id")
        item: TrackInput = validate(TrackInput, track, "track")
        if position is not None:
            position = check_position(position)
        by = None if by is None else check_id(by, "by")
        added_by = by if added_by is None else check_id(added_by, "added_by")
        count, end = await self._lock(playlist_id, by)
        if count >= self.max_tracks:
            raise _full(playlist_id, self.max_tracks)
        if position is not None and position > count:
            raise InvalidInputError(
                f"position {position} is past the end of playlist {playlist_id}, which has "
                f"{count} tracks; use 0..{count}"
            )
        track_info = await self._ensure_track(item)
        if position is None or position == count:
            position = end
        else:
            await self.session.execute(
                sql.SHIFT_DOWN, {"pid": playlist_id, "from_position": position}
            )
        entry = {
            "playlist_id": playlist_id,
            "track_id": track_info.id,
            "position": position,
            "added_by": added_by,
        }
        with translate_constraint_errors(not_found=f"user {added_by} is not known"):
            added_at = (await self.session.execute(sql.INSERT_ENTRY, entry)).scalar_one()
        return PlaylistEntry(position, track_info, added_by, added_at)

    async def add_tracks(
        self,
        playlist_id: int,
        tracks: Iterable[TrackInput | Mapping[str, object]],
        *,
        added_by: int | None = None,
        by: int | None = None,
    ) -> range:
        """Append many tracks at once (a playlist import); returns the positions they took.

        The new tracks and the entries each go in with one ``INSERT ... SELECT
        FROM unnest(arrays)``, one array per column: a handful of statements and
        round trips however many tracks there are.
        """
        playlist_id = check_id(playlist_id, "playlist id")
        items: list[TrackInput] = [
            validate(TrackInput, track, f"track {index}") for index, track in enumerate(tracks)
        ]
        by = None if by is None else check_id(by, "by")
        added_by = by if added_by is None else check_id(added_by, "added_by")
        count, end = await self._lock(playlist_id, by)
        if count + len(items) > self.max_tracks:
            raise _full(playlist_id, self.max_tracks, adding=len(items), count=count)
        if not items:
            return range(end, end)
        ids = await self._ensure_tracks(items)
        params = {
            "target": playlist_id,
            "start": end,
            "by": added_by,
            "track_ids": [ids[item.source_url] for item in items],
        }
        with translate_constraint_errors(not_found=f"user {added_by} is not known"):
            await self.session.execute(sql.APPEND_ENTRIES, params)
        return range(end, end + len(items))

    async def remove_track(
        self, playlist_id: int, position: int, *, by: int | None = None
    ) -> TrackInfo:
        """Remove the entry at ``position``; the ones after it move up by one."""
        playlist_id = check_id(playlist_id, "playlist id")
        position = check_position(position)
        count, _ = await self._lock(playlist_id, None if by is None else check_id(by, "by"))
        _check_in_range(playlist_id, position, count)
        params = {"pid": playlist_id, "at_position": position}
        track_id = (await self.session.execute(sql.REMOVE, params)).scalar_one()
        await self.session.execute(sql.SHIFT_UP, {"pid": playlist_id, "after_position": position})
        row = (await self.session.execute(sql.TRACK_BY_ID, {"track_id": track_id})).one()
        return TrackInfo(*row)

    async def move_track(
        self, playlist_id: int, from_position: int, to_position: int, *, by: int | None = None
    ) -> None:
        """Move the entry at ``from_position`` to ``to_position``, shifting those between."""
        playlist_id = check_id(playlist_id, "playlist id")
        source = check_position(from_position, "from_position")
        target = check_position(to_position, "to_position")
        count, _ = await self._lock(playlist_id, None if by is None else check_id(by, "by"))
        _check_in_range(playlist_id, source, count)
        _check_in_range(playlist_id, target, count)
        if source == target:
            return
        await self.session.execute(
            sql.MOVE,
            {
                "pid": playlist_id,
                "low": min(source, target),
                "high": max(source, target),
                "source": source,
                "target": target,
                "step": -1 if source < target else 1,
            },
        )

    # -- internals -------------------------------------------------------------------

    async def _summaries(
        self, statement: ClauseElement, key: str, id_: int, *, limit: int, offset: int
    ) -> list[PlaylistSummary]:
        """One page of a listing: ``id_`` (bound as ``key``) checked, then the summaries."""
        params = {
            key: check_id(id_, key.replace("_", " ")),
            "limit": check_position(limit, "limit"),
            "offset": check_position(offset, "offset"),
        }
        return [PlaylistSummary(*row) for row in await self.session.execute(statement, params)]

    async def _lock(self, playlist_id: int, by: int | None = None) -> tuple[int, int]:
        """Lock the playlist for this unit of work; return its track count and next position.

        With ``by``, the user must be allowed to edit it (PermissionDeniedError;
        the lock taken is released with the rolled-back unit of work). The
        count is read by a statement of its own after the lock is held: in
        READ COMMITTED each statement sees what committed before it began, so it
        sees every entry the previous lock holder added.
        """
        locked = (await self.session.execute(sql.LOCK, {"pid": playlist_id, "by": by})).first()
        if locked is None:
            raise _no_playlist(playlist_id)
        if by is not None:
            _check_may_edit(playlist_id, by, owner_id=locked[1], can_edit=locked[2])
        count, end = (await self.session.execute(sql.SIZE, {"pid": playlist_id})).one()
        return int(count), int(end)

    async def _check_editor(self, playlist_id: int, by: int, *, owner_only: bool = False) -> None:
        """Raise unless ``by`` owns the playlist (or, unless ``owner_only``, may edit it)."""
        row = (await self.session.execute(sql.EDITOR, {"pid": playlist_id, "by": by})).first()
        if row is None:
            raise _no_playlist(playlist_id)
        _check_may_edit(playlist_id, by, owner_id=row[0], can_edit=False if owner_only else row[1])

    async def _ensure_tracks(self, items: list[TrackInput]) -> dict[str, int]:
        """The ids of ``items``' tracks by URL, inserting those that are new.

        All rows go in with one ``INSERT ... SELECT FROM unnest(arrays)``, in
        URL order, so two imports sharing tracks lock them in the same order and
        cannot deadlock; only URLs that were known already are looked up after.
        """
        first: dict[str, TrackInput] = {}
        for item in items:
            first.setdefault(item.source_url, item)
        urls = sorted(first)
        columns = {
            "urls": urls,
            "titles": [first[url].title for url in urls],
            "artists": [first[url].artist for url in urls],
            "durations": [first[url].duration_seconds for url in urls],
            "extras": [first[url].extra for url in urls],
        }
        with translate_constraint_errors():
            ids: dict[str, int] = dict(
                (await self.session.execute(sql.INSERT_TRACKS, columns)).all()
            )
        if len(ids) < len(urls):
            known = [url for url in urls if url not in ids]
            ids.update((await self.session.execute(sql.IDS_BY_URL, {"urls": known})).all())
        return ids

    async def _ensure_track(self, item: TrackInput) -> TrackInfo:
        """The stored track for ``item``'s URL, inserted when new."""
        with translate_constraint_errors():
            inserted = (
                await self.session.execute(sql.INSERT_TRACK, _track_values(item))
            ).scalar_one_or_none()
        if inserted is not None:
            return TrackInfo(
                inserted,
                item.source_url,
                item.title,
                item.artist,
                item.duration_seconds,
                dict(item.extra),
            )
        # Known already (possibly since a moment ago, committed by a concurrent call:
        # this statement's snapshot sees it).
        row = (await self.session.execute(sql.TRACK_BY_URL, {"source_url": item.source_url})).one()
        return TrackInfo(*row)


def _track_values(item: TrackInput) -> dict[str, Any]:
    """``item``'s columns (``model_dump`` walks the model generically, for more time)."""
    return {
        "source_url": item.source_url,
        "title": item.title,
        "artist": item.artist,
        "duration_seconds": item.duration_seconds,
        "extra": item.extra,
    }


def _check_may_edit(
    playlist_id: int, by: int, *, owner_id: int | None, can_edit: bool | None
) -> None:
    """Raise PermissionDeniedError unless ``by`` is the owner or may edit."""
    if owner_id == by or can_edit:
        return
    raise PermissionDeniedError(
        f"user {by} may not change playlist {playlist_id}: only its owner, or a user it is "
        "shared with to edit, may; ask the owner to share it with can_edit"
    )


def _no_playlist(playlist_id: int) -> NotFoundError:
    return NotFoundError(f"playlist {playlist_id} does not exist (deleted, or a wrong id)")


def _full(playlist_id: int, limit: int, *, adding: int = 1, count: int | None = None) -> Exception:
    held = f" (it holds {count})" if count is not None else ""
    return InvalidInputError(
        f"playlist {playlist_id} may hold at most {limit} tracks{held}; adding {adding} "
        "would pass that: remove some first or make another playlist"
    )


def _check_in_range(playlist_id: int, position: int, count: int) -> None:
    if position >= count:
        raise NotFoundError(
            f"playlist {playlist_id} has no track at position {position}; it holds {count} "
            f"(positions 0..{count - 1})"
            if count
            else f"playlist {playlist_id} has no track at position {position}; it is empty"
        )
