"""What each guild played: recent plays, newest first, and its most played tracks.

:meth:`HistoryRepository.record` is called once per track the player starts.
The history is kept to the newest ``limit`` plays per guild
(``BOT_DB_HISTORY_LIMIT``): each record deletes what fell beyond it, finding
the cut through the ``(guild_id, played_at, id)`` index, so the trim reads at
most ``limit`` index entries of one guild and never scans the table. Play
counts are kept beside it, one counter per guild and track, and are not
trimmed: "most played" counts every play since the first.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import BigInteger, Integer, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bot_persistence.errors import InvalidInputError
from bot_persistence.models import Base
from bot_persistence.repositories.base import (
    Repository,
    check_id,
    translate_constraint_errors,
    validate,
)
from bot_persistence.repositories.playlists import TrackInfo, TrackInput
from bot_persistence.repositories.playlists._statements import TRACK_BY_URL, TRACK_COLUMNS
from bot_persistence.session import Session

__all__ = ["HistoryEntry", "HistoryRepository", "TrackPlayCount"]

#: The most entries one read returns.
MAX_READ = 1000


@dataclasses.dataclass(slots=True)
class HistoryEntry:
    """One play: the track, who asked for it (None: autoplay, or a forgotten user), when."""

    id: int
    guild_id: int
    user_id: int | None
    track: TrackInfo
    played_at: dt.datetime


@dataclasses.dataclass(slots=True)
class TrackPlayCount:
    """How many times a guild played a track, and when last."""

    track: TrackInfo
    play_count: int
    last_played_at: dt.datetime


_history = Base.metadata.tables["play_history"]
_plays = Base.metadata.tables["track_plays"]
_tracks = Base.metadata.tables["tracks"]
_GUILD = bindparam("guild_id", type_=BigInteger)
_TRACK = bindparam("track_id", type_=BigInteger)

_NEW_TRACK = (
    pg_insert(_tracks).on_conflict_do_nothing(index_elements=["source_url"]).returning(_tracks.c.id)
)
# The play and its count in one statement: two tables, no ordering between them.
_played = (
    _history.insert()
    .values(guild_id=_GUILD, user_id=bindparam("user_id"), track_id=_TRACK)
    .returning(_history.c.id, _history.c.played_at)
    .cte("played")
)
_new_count = pg_insert(_plays).values(guild_id=_GUILD, track_id=_TRACK, play_count=1)
_counted = _new_count.on_conflict_do_update(
    index_elements=[_plays.c.guild_id, _plays.c.track_id],
    set_={"play_count": _plays.c.play_count + 1, "last_played_at": func.now()},
).cte("counted")
_RECORD = select(_played.c.id, _played.c.played_at).add_cte(_counted)
# Everything from the newest play beyond the limit back: a row comparison the index
# (guild_id, played_at, id) answers as a range; nothing when the subquery finds no row.
_TRIM = text(
    "DELETE FROM play_history WHERE guild_id = :guild_id AND (played_at, id) <= ("
    "SELECT played_at, id FROM play_history WHERE guild_id = :guild_id "
    "ORDER BY played_at DESC, id DESC OFFSET :keep LIMIT 1)"
)
_ENTRY_COLUMNS = (
    _history.c.id,
    _history.c.guild_id,
    _history.c.user_id,
    _history.c.played_at,
    *TRACK_COLUMNS,
)
_NEWEST = (_history.c.played_at.desc(), _history.c.id.desc())
_LIMIT = bindparam("limit", type_=Integer)


def _recent(*conditions: Any) -> Any:
    return (
        select(*_ENTRY_COLUMNS)
        .join_from(_history, _tracks, _tracks.c.id == _history.c.track_id)
        .where(*conditions)
        .order_by(*_NEWEST)
        .limit(_LIMIT)
    )


_USER = bindparam("user_id", type_=BigInteger)
_RECENT_IN_GUILD = _recent(_history.c.guild_id == _GUILD)
_RECENT_OF_USER = _recent(_history.c.user_id == _USER)
_RECENT_OF_USER_IN_GUILD = _recent(_history.c.guild_id == _GUILD, _history.c.user_id == _USER)
_MOST_PLAYED = (
    select(_plays.c.play_count, _plays.c.last_played_at, *TRACK_COLUMNS)
    .join_from(_plays, _tracks, _tracks.c.id == _plays.c.track_id)
    .where(_plays.c.guild_id == _GUILD)
    .order_by(_plays.c.play_count.desc(), _plays.c.last_played_at.desc(), _tracks.c.id)
    .limit(_LIMIT)
)


def _check_limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"limit must be an integer, not {type(value).__name__}")
    if not 1 <= value <= MAX_READ:
        raise InvalidInputError(f"limit {value} is out of range; use 1..{MAX_READ}")
    return value


class HistoryRepository(Repository):
    """Each guild's play history and play counts, inside one unit of work."""

    def __init__(self, session: Session, *, limit: int | None = None) -> None:
        super().__init__(session)
        #: Plays kept per guild; ``BOT_DB_HISTORY_LIMIT`` unless given.
        self.limit = session.settings.history_limit if limit is None else limit

    async def record(
        self,
        *,
        guild_id: int,
        user_id: int | None,
        track: TrackInput | Mapping[str, object],
    ) -> HistoryEntry:
        """Record that the guild played ``track`` for ``user_id`` (None: autoplay).

        Counts the play, and trims the guild's history to ``limit`` plays. The
        guild (and the user) must be recorded first.
        """
        guild_id = check_id(guild_id, "guild id")
        if user_id is not None:
            user_id = check_id(user_id, "user id")
        item = validate(TrackInput, track, "track")
        info = await self._ensure_track(item)
        params = {"guild_id": guild_id, "user_id": user_id, "track_id": info.id}
        with translate_constraint_errors(
            not_found=f"guild {guild_id} or user {user_id} is not known; record them with "
            "ensure_guild/ensure_user first"
        ):
            play_id, played_at = (await self.session.execute(_RECORD, params)).one()
        await self.session.execute(_TRIM, {"guild_id": guild_id, "keep": self.limit})
        return HistoryEntry(play_id, guild_id, user_id, info, played_at)

    async def recent(
        self, guild_id: int | None = None, user_id: int | None = None, limit: int = 25
    ) -> list[HistoryEntry]:
        """The newest plays first: of a guild, of a user, or of a user in a guild."""
        limit = _check_limit(limit)
        params: dict[str, Any] = {"limit": limit}
        if guild_id is not None:
            params["guild_id"] = check_id(guild_id, "guild id")
        if user_id is not None:
            params["user_id"] = check_id(user_id, "user id")
        if guild_id is None and user_id is None:
            raise InvalidInputError("give a guild_id, a user_id or both to read history")
        statement = (
            _RECENT_OF_USER_IN_GUILD
            if guild_id is not None and user_id is not None
            else _RECENT_IN_GUILD
            if guild_id is not None
            else _RECENT_OF_USER
        )
        rows = await self.session.execute(statement, params)
        return [HistoryEntry(row[0], row[1], row[2], TrackInfo(*row[4:10]), row[3]) for row in rows]

    async def most_played(self, guild_id: int, limit: int = 10) -> list[TrackPlayCount]:
        """The guild's most played tracks, most plays first (ties: the latest played first)."""
        params = {"guild_id": check_id(guild_id, "guild id"), "limit": _check_limit(limit)}
        rows = await self.session.execute(_MOST_PLAYED, params)
        return [TrackPlayCount(TrackInfo(*row[2:8]), row[0], row[1]) for row in rows]

    async def _ensure_track(self, item: TrackInput) -> TrackInfo:
        """The track's id, inserting it when its URL is new (its first metadata stays)."""
        values: dict[str, Any] = {
            "source_url": item.source_url,
            "title": item.title,
            "artist": item.artist,
            "duration_seconds": item.duration_seconds,
            "extra": item.extra,
        }
        with translate_constraint_errors():
            track_id = (await self.session.execute(_NEW_TRACK, values)).scalar_one_or_none()
        if track_id is not None:
            return TrackInfo(track_id, **values)
        # Known, possibly since a moment ago (this statement's snapshot sees it).
        found = await self.session.execute(TRACK_BY_URL, {"source_url": item.source_url})
        return TrackInfo(*found.one())
