"""Playlists: named, ordered lists of tracks that users own.

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
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field, JsonValue, field_validator
from sqlalchemy import Text, any_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot_persistence.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from bot_persistence.models import Base
from bot_persistence.repositories.base import (
    Repository,
    StrictModel,
    check_id,
    check_position,
    check_text,
    has_control_characters,
    translate_constraint_errors,
    validate,
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

#: The most tracks one playlist may hold unless the repository is told otherwise.
DEFAULT_MAX_TRACKS = 10_000
MAX_PLAYLIST_NAME_LENGTH = 100

# Core tables: the repository reads and writes rows, not ORM objects, so that a
# playlist of thousands of tracks costs tuples rather than tracked instances.
_playlists = Base.metadata.tables["playlists"]
_tracks = Base.metadata.tables["tracks"]
_entries = Base.metadata.tables["playlist_tracks"]


class TrackInput(StrictModel):
    """A track to add, as the bot's player describes it; validated when built."""

    source_url: str = Field(min_length=1, max_length=2048)
    title: str = Field(min_length=1, max_length=300)
    artist: str | None = Field(default=None, min_length=1, max_length=300)
    duration_seconds: int | None = Field(default=None, ge=0, le=2**31 - 1)
    extra: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("source_url")
    @classmethod
    def _url_is_one_token(cls, value: str) -> str:
        if value != value.strip() or any(char.isspace() for char in value):
            raise ValueError("a source URL has no spaces")
        if has_control_characters(value):
            raise ValueError("a source URL has no control characters")
        return value

    @field_validator("title", "artist")
    @classmethod
    def _text_is_printable(cls, value: str | None) -> str | None:
        if value is not None and (has_control_characters(value) or not value.strip()):
            raise ValueError("must be printable text, without control characters such as NUL")
        return value


@dataclasses.dataclass(frozen=True, slots=True)
class TrackInfo:
    """A track as stored: its id is shared by every playlist that holds it."""

    id: int
    source_url: str
    title: str
    artist: str | None
    duration_seconds: int | None
    extra: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class PlaylistEntry:
    """A track at a 0-based position in a playlist."""

    position: int
    track: TrackInfo
    added_by: int | None
    added_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class PlaylistSummary:
    """A playlist without its tracks, as a list of a user's playlists shows it."""

    id: int
    owner_id: int
    guild_id: int | None
    name: str
    track_count: int
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class PlaylistDetail:
    """A playlist with its entries in order."""

    id: int
    owner_id: int
    guild_id: int | None
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    entries: tuple[PlaylistEntry, ...]

    @property
    def tracks(self) -> tuple[TrackInfo, ...]:
        """The tracks in playlist order."""
        return tuple(entry.track for entry in self.entries)


_SUMMARY_COLUMNS = (
    _playlists.c.id,
    _playlists.c.owner_id,
    _playlists.c.guild_id,
    _playlists.c.name,
)
_TRACK_COUNT = (
    select(func.count())
    .where(_entries.c.playlist_id == _playlists.c.id)
    .scalar_subquery()
    .label("track_count")
)
# The columns of a PlaylistSummary, in its field order.
_SUMMARY = (*_SUMMARY_COLUMNS, _TRACK_COUNT, _playlists.c.created_at, _playlists.c.updated_at)


class PlaylistRepository(Repository):
    """Playlists and their tracks, inside one unit of work (see :class:`Repository`)."""

    def __init__(self, session: AsyncSession, *, max_tracks: int = DEFAULT_MAX_TRACKS) -> None:
        super().__init__(session)
        self.max_tracks = max_tracks

    # -- playlists -----------------------------------------------------------------

    async def create(
        self, owner_id: int, name: str, *, guild_id: int | None = None
    ) -> PlaylistSummary:
        """A new empty playlist; AlreadyExistsError when the owner has one of that name.

        The owner (and the guild, when given) must be recorded first
        (``ensure_user``/``ensure_guild``). Two concurrent creates of the same
        name give one playlist and one AlreadyExistsError: the unique constraint
        decides, through ``ON CONFLICT DO NOTHING``.
        """
        owner_id = check_id(owner_id, "owner id")
        name = check_text(name, "playlist name", max_length=MAX_PLAYLIST_NAME_LENGTH)
        if guild_id is not None:
            guild_id = check_id(guild_id, "guild id")
        statement = (
            pg_insert(_playlists)
            .values(owner_id=owner_id, name=name, guild_id=guild_id)
            .on_conflict_do_nothing(index_elements=["owner_id", "name"])
            .returning(*_SUMMARY_COLUMNS, _playlists.c.created_at, _playlists.c.updated_at)
        )
        with translate_constraint_errors(
            not_found=f"user {owner_id} or guild {guild_id} is not known; record them with "
            "ensure_user/ensure_guild first"
        ):
            row = (await self.session.execute(statement)).one_or_none()
        if row is None:
            raise AlreadyExistsError(
                f"user {owner_id} already has a playlist named {name!r}; pick another name"
            )
        return PlaylistSummary(
            id=row.id,
            owner_id=owner_id,
            guild_id=guild_id,
            name=name,
            track_count=0,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    async def rename(self, playlist_id: int, name: str) -> PlaylistSummary:
        """Give the playlist a new name, unique among its owner's playlists."""
        playlist_id = check_id(playlist_id, "playlist id")
        name = check_text(name, "playlist name", max_length=MAX_PLAYLIST_NAME_LENGTH)
        statement = (
            update(_playlists)
            .where(_playlists.c.id == playlist_id)
            .values(name=name, updated_at=func.now())
            .returning(*_SUMMARY)
        )
        with translate_constraint_errors(
            exists=f"the owner of playlist {playlist_id} already has a playlist named {name!r}; "
            "pick another name"
        ):
            row = (await self.session.execute(statement)).one_or_none()
        if row is None:
            raise _no_playlist(playlist_id)
        return PlaylistSummary(*row)

    async def delete(self, playlist_id: int) -> None:
        """Delete the playlist and its entries (the tracks stay known)."""
        playlist_id = check_id(playlist_id, "playlist id")
        statement = delete(_playlists).where(_playlists.c.id == playlist_id)
        deleted = (await self.session.execute(statement.returning(_playlists.c.id))).first()
        if deleted is None:
            raise _no_playlist(playlist_id)

    async def get(self, playlist_id: int) -> PlaylistDetail:
        """The playlist with its tracks in order: two queries, however many tracks."""
        playlist_id = check_id(playlist_id, "playlist id")
        head = (
            await self.session.execute(
                select(*_SUMMARY_COLUMNS, _playlists.c.created_at, _playlists.c.updated_at).where(
                    _playlists.c.id == playlist_id
                )
            )
        ).one_or_none()
        if head is None:
            raise _no_playlist(playlist_id)
        rows = await self.session.execute(
            select(
                _entries.c.position,
                _entries.c.added_by,
                _entries.c.added_at,
                _tracks.c.id,
                _tracks.c.source_url,
                _tracks.c.title,
                _tracks.c.artist,
                _tracks.c.duration_seconds,
                _tracks.c.extra,
            )
            .join_from(_entries, _tracks, _entries.c.track_id == _tracks.c.id)
            .where(_entries.c.playlist_id == playlist_id)
            .order_by(_entries.c.position)
        )
        entries = tuple(
            PlaylistEntry(position, TrackInfo(*track), added_by, added_at)
            for position, added_by, added_at, *track in rows
        )
        return PlaylistDetail(*head, entries=entries)

    async def get_by_name(self, owner_id: int, name: str) -> PlaylistSummary:
        """The owner's playlist called ``name`` (as a user types it in a command)."""
        owner_id = check_id(owner_id, "owner id")
        name = check_text(name, "playlist name", max_length=MAX_PLAYLIST_NAME_LENGTH)
        row = (
            await self.session.execute(
                select(*_SUMMARY).where(
                    _playlists.c.owner_id == owner_id, _playlists.c.name == name
                )
            )
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"user {owner_id} has no playlist named {name!r}")
        return PlaylistSummary(*row)

    async def list_for_user(
        self, owner_id: int, *, limit: int = 100, offset: int = 0
    ) -> list[PlaylistSummary]:
        """The owner's playlists by name, with their track counts (one query)."""
        owner_id = check_id(owner_id, "owner id")
        limit = check_position(limit, "limit")
        offset = check_position(offset, "offset")
        rows = await self.session.execute(
            select(*_SUMMARY)
            .where(_playlists.c.owner_id == owner_id)
            .order_by(_playlists.c.name)
            .limit(limit)
            .offset(offset)
        )
        return [PlaylistSummary(*row) for row in rows]

    async def count(self, playlist_id: int) -> int:
        """How many tracks the playlist holds."""
        playlist_id = check_id(playlist_id, "playlist id")
        found = (
            await self.session.execute(select(_TRACK_COUNT).where(_playlists.c.id == playlist_id))
        ).scalar_one_or_none()
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
    ) -> PlaylistEntry:
        """Add ``track`` at the end, or at ``position`` (0..count) shifting the rest down."""
        playlist_id = check_id(playlist_id, "playlist id")
        item: TrackInput = validate(TrackInput, track, "track")
        if position is not None:
            position = check_position(position)
        if added_by is not None:
            added_by = check_id(added_by, "added_by")
        count, end = await self._lock(playlist_id)
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
                update(_entries)
                .where(_entries.c.playlist_id == playlist_id, _entries.c.position >= position)
                .values(position=_entries.c.position + 1)
            )
        with translate_constraint_errors(not_found=f"user {added_by} is not known"):
            added_at = (
                await self.session.execute(
                    insert(_entries)
                    .values(
                        playlist_id=playlist_id,
                        track_id=track_info.id,
                        position=position,
                        added_by=added_by,
                    )
                    .returning(_entries.c.added_at)
                )
            ).scalar_one()
        return PlaylistEntry(position, track_info, added_by, added_at)

    async def add_tracks(
        self,
        playlist_id: int,
        tracks: Iterable[TrackInput | Mapping[str, object]],
        *,
        added_by: int | None = None,
    ) -> range:
        """Append many tracks at once (a playlist import); returns the positions they took.

        New tracks are inserted in URL order, so two imports that share tracks
        take row locks in the same order and cannot deadlock; both rows and
        entries go in as batched multi-row statements.
        """
        playlist_id = check_id(playlist_id, "playlist id")
        items: list[TrackInput] = [
            validate(TrackInput, track, f"track {index}") for index, track in enumerate(tracks)
        ]
        if added_by is not None:
            added_by = check_id(added_by, "added_by")
        count, end = await self._lock(playlist_id)
        if count + len(items) > self.max_tracks:
            raise _full(playlist_id, self.max_tracks, adding=len(items), count=count)
        if not items:
            return range(end, end)
        first: dict[str, TrackInput] = {}
        for item in items:
            first.setdefault(item.source_url, item)
        urls = sorted(first)
        with translate_constraint_errors():
            await self.session.execute(
                pg_insert(_tracks).on_conflict_do_nothing(index_elements=["source_url"]),
                [first[url].model_dump() for url in urls],
            )
        ids = dict(
            (
                await self.session.execute(
                    select(_tracks.c.source_url, _tracks.c.id).where(
                        _tracks.c.source_url == any_(bindparam("urls", urls, type_=ARRAY(Text)))
                    )
                )
            ).all()
        )
        with translate_constraint_errors(not_found=f"user {added_by} is not known"):
            await self.session.execute(
                insert(_entries),
                [
                    {
                        "playlist_id": playlist_id,
                        "track_id": ids[item.source_url],
                        "position": end + offset,
                        "added_by": added_by,
                    }
                    for offset, item in enumerate(items)
                ],
            )
        return range(end, end + len(items))

    async def remove_track(self, playlist_id: int, position: int) -> TrackInfo:
        """Remove the entry at ``position``; the ones after it move up by one."""
        playlist_id = check_id(playlist_id, "playlist id")
        position = check_position(position)
        count, _ = await self._lock(playlist_id)
        _check_in_range(playlist_id, position, count)
        track_id = (
            await self.session.execute(
                delete(_entries)
                .where(_entries.c.playlist_id == playlist_id, _entries.c.position == position)
                .returning(_entries.c.track_id)
            )
        ).scalar_one()
        await self.session.execute(
            update(_entries)
            .where(_entries.c.playlist_id == playlist_id, _entries.c.position > position)
            .values(position=_entries.c.position - 1)
        )
        row = (
            await self.session.execute(
                select(
                    _tracks.c.id,
                    _tracks.c.source_url,
                    _tracks.c.title,
                    _tracks.c.artist,
                    _tracks.c.duration_seconds,
                    _tracks.c.extra,
                ).where(_tracks.c.id == track_id)
            )
        ).one()
        return TrackInfo(*row)

    async def move_track(self, playlist_id: int, from_position: int, to_position: int) -> None:
        """Move the entry at ``from_position`` to ``to_position``, shifting those between.

        One ``UPDATE``: the moved row takes its new place and the run between
        shifts by one, checked for uniqueness when the statement ends.
        """
        playlist_id = check_id(playlist_id, "playlist id")
        source = check_position(from_position, "from_position")
        target = check_position(to_position, "to_position")
        count, _ = await self._lock(playlist_id)
        _check_in_range(playlist_id, source, count)
        _check_in_range(playlist_id, target, count)
        if source == target:
            return
        step = -1 if source < target else 1
        await self.session.execute(
            update(_entries)
            .where(
                _entries.c.playlist_id == playlist_id,
                _entries.c.position.between(min(source, target), max(source, target)),
            )
            .values(
                position=case(
                    (_entries.c.position == source, target),
                    else_=_entries.c.position + step,
                )
            )
        )

    # -- internals -------------------------------------------------------------------

    async def _lock(self, playlist_id: int) -> tuple[int, int]:
        """Lock the playlist for this unit of work; return its track count and next position.

        The count is read by a statement of its own after the lock is held: in
        READ COMMITTED each statement sees what committed before it began, so it
        sees every entry the previous lock holder added.
        """
        locked = (
            await self.session.execute(
                update(_playlists)
                .where(_playlists.c.id == playlist_id)
                .values(updated_at=func.now())
                .returning(_playlists.c.id)
            )
        ).first()
        if locked is None:
            raise _no_playlist(playlist_id)
        count, end = (
            await self.session.execute(
                select(func.count(), func.coalesce(func.max(_entries.c.position) + 1, 0)).where(
                    _entries.c.playlist_id == playlist_id
                )
            )
        ).one()
        return int(count), int(end)

    async def _ensure_track(self, item: TrackInput) -> TrackInfo:
        """The stored track for ``item``'s URL, inserted when new."""
        with translate_constraint_errors():
            inserted = (
                await self.session.execute(
                    pg_insert(_tracks)
                    .values(**item.model_dump())
                    .on_conflict_do_nothing(index_elements=["source_url"])
                    .returning(_tracks.c.id)
                )
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
        row = (
            await self.session.execute(
                select(
                    _tracks.c.id,
                    _tracks.c.source_url,
                    _tracks.c.title,
                    _tracks.c.artist,
                    _tracks.c.duration_seconds,
                    _tracks.c.extra,
                ).where(_tracks.c.source_url == item.source_url)
            )
        ).one()
        return TrackInfo(*row)


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
