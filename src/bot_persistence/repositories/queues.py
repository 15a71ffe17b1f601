"""A guild's saved player queue: saved on shutdown, restored at start-up.

The bot's player lives in memory; when the process stops (a deploy, a crash
that still runs ``finally``) it saves each guild's queue, and at start-up it
loads them back and resumes where it was (the track, the position in it, the
volume, repeat and pause). A save replaces the guild's queue whole.

A save costs the same four statements however many tracks the queue holds:
the head row is upserted (which also locks it, so two saves of one guild's
queue queue up and the last one wins, whole), the old tracks are deleted, the
tracks the bot has not seen are inserted from one array per column, and the
queue's entries are inserted by joining the URLs, in order, to their track
ids, all in the server. No row goes back and forth per track.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, model_validator
from sqlalchemy import BigInteger, Text, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bot_persistence.errors import InvalidInputError
from bot_persistence.models import Base, RepeatMode
from bot_persistence.repositories.base import (
    MAX_BIGINT,
    Repository,
    StrictModel,
    check_id,
    translate_constraint_errors,
    validate,
)
from bot_persistence.repositories.playlists import TrackInput
from bot_persistence.repositories.playlists._statements import NEW_TRACKS_FROM_ARRAYS

__all__ = ["MAX_QUEUE_TRACKS", "QueueRepository", "QueueState"]

#: The most tracks a saved queue holds (the most ``max_queue_length`` a guild may set).
MAX_QUEUE_TRACKS = 10_000


class QueueState(StrictModel):
    """What the player was doing in one guild: the queue, where it was, and how.

    ``current_index`` is the position in ``tracks`` of the track playing (0 for
    an empty queue), ``position_ms`` how far into it.
    """

    voice_channel_id: int | None = Field(default=None, gt=0, le=MAX_BIGINT)
    text_channel_id: int | None = Field(default=None, gt=0, le=MAX_BIGINT)
    tracks: list[TrackInput] = Field(default_factory=list, max_length=MAX_QUEUE_TRACKS)
    current_index: int = Field(default=0, ge=0, le=MAX_QUEUE_TRACKS)
    position_ms: int = Field(default=0, ge=0, le=MAX_BIGINT)
    volume: int = Field(default=50, ge=0, le=200)
    # A bot command hands over "queue" as text: accept the value as well as the member.
    repeat_mode: RepeatMode = Field(default=RepeatMode.OFF, strict=False)
    paused: bool = False

    @model_validator(mode="after")
    def _current_is_in_the_queue(self) -> QueueState:
        if self.current_index >= max(len(self.tracks), 1):
            raise ValueError(
                f"current_index {self.current_index} is past the end of a queue of "
                f"{len(self.tracks)} tracks"
            )
        return self


_HEAD_FIELDS = (
    "voice_channel_id",
    "text_channel_id",
    "current_index",
    "position_ms",
    "volume",
    "repeat_mode",
    "paused",
)

_queues = Base.metadata.tables["saved_queues"]
_queue_tracks = Base.metadata.tables["queue_tracks"]
_tracks = Base.metadata.tables["tracks"]
_GUILD = bindparam("guild_id", type_=BigInteger)

_new_head = pg_insert(_queues).values(
    guild_id=_GUILD, **{name: bindparam(name) for name in _HEAD_FIELDS}
)
_SAVE_HEAD = _new_head.on_conflict_do_update(
    index_elements=[_queues.c.guild_id],
    set_={**{name: _new_head.excluded[name] for name in _HEAD_FIELDS}, "saved_at": func.now()},
).returning(_queues.c.saved_at)
_CLEAR_TRACKS = delete(_queue_tracks).where(_queue_tracks.c.guild_id == _GUILD)
_order = (
    func.unnest(bindparam("order", type_=ARRAY(Text)))
    .table_valued("source_url", with_ordinality="n")
    .render_derived(name="queued")
)
_PUT_TRACKS = _queue_tracks.insert().from_select(
    ["guild_id", "position", "track_id"],
    select(_GUILD, _order.c.n - 1, _tracks.c.id).join_from(
        _order, _tracks, _tracks.c.source_url == _order.c.source_url
    ),
)
_LOAD_HEAD = select(*(_queues.c[name] for name in _HEAD_FIELDS)).where(_queues.c.guild_id == _GUILD)
_LOAD_TRACKS = (
    select(
        _tracks.c.source_url,
        _tracks.c.title,
        _tracks.c.artist,
        _tracks.c.duration_seconds,
        _tracks.c.extra,
    )
    .join_from(_queue_tracks, _tracks, _tracks.c.id == _queue_tracks.c.track_id)
    .where(_queue_tracks.c.guild_id == _GUILD)
    .order_by(_queue_tracks.c.position)
)
_CLEAR = delete(_queues).where(_queues.c.guild_id == _GUILD).returning(_queues.c.guild_id)
_SAVED = select(_queues.c.guild_id).order_by(_queues.c.guild_id)


class QueueRepository(Repository):
    """Each guild's saved queue, inside one unit of work."""

    async def save(self, guild_id: int, state: QueueState | Mapping[str, object]) -> None:
        """Replace the guild's saved queue with ``state``; the guild must be recorded.

        Four statements, whatever the number of tracks. Tracks are known once
        by URL, as in playlists: a URL seen before keeps its first metadata.
        """
        guild_id = check_id(guild_id, "guild id")
        queue = validate(QueueState, state, "queue state")
        head = {name: getattr(queue, name) for name in _HEAD_FIELDS}
        with translate_constraint_errors(
            not_found=f"guild {guild_id} is not known; record it with ensure_guild first"
        ):
            await self.session.execute(_SAVE_HEAD, {"guild_id": guild_id, **head})
        await self.session.execute(_CLEAR_TRACKS, {"guild_id": guild_id})
        if not queue.tracks:
            return
        first: dict[str, TrackInput] = {}
        for track in queue.tracks:
            first.setdefault(track.source_url, track)
        # URL order: two saves sharing new tracks take their locks in one order.
        urls = sorted(first)
        with translate_constraint_errors():
            await self.session.execute(
                NEW_TRACKS_FROM_ARRAYS,
                {
                    "urls": urls,
                    "titles": [first[url].title for url in urls],
                    "artists": [first[url].artist for url in urls],
                    "durations": [first[url].duration_seconds for url in urls],
                    "extras": [first[url].extra for url in urls],
                },
            )
        order = [track.source_url for track in queue.tracks]
        put = await self.session.execute(_PUT_TRACKS, {"guild_id": guild_id, "order": order})
        if put.rowcount != len(order):  # a track deleted in between: not done by this library
            raise InvalidInputError(
                f"saving guild {guild_id}'s queue stored {put.rowcount} of {len(order)} tracks; "
                "a track was deleted meanwhile: save again"
            )

    async def load(self, guild_id: int) -> QueueState | None:
        """The guild's saved queue, or None when none is saved (two queries)."""
        guild_id = check_id(guild_id, "guild id")
        params = {"guild_id": guild_id}
        head = (await self.session.execute(_LOAD_HEAD, params)).one_or_none()
        if head is None:
            return None
        rows = (await self.session.execute(_LOAD_TRACKS, params)).all()
        # Stored rows passed every check when saved: built without validating again.
        tracks = [
            TrackInput.model_construct(
                source_url=url, title=title, artist=artist, duration_seconds=duration, extra=extra
            )
            for url, title, artist, duration, extra in rows
        ]
        values: dict[str, Any] = dict(zip(_HEAD_FIELDS, head, strict=True))
        return QueueState.model_construct(tracks=tracks, **values)

    async def saved_guilds(self) -> list[int]:
        """The guilds that have a saved queue, for the bot to restore at start-up.

        A sharded bot keeps those of its own shards: ``(guild_id >> 22) % shard_count``.
        """
        return [row[0] for row in await self.session.execute(_SAVED)]

    async def clear(self, guild_id: int) -> bool:
        """Forget the guild's saved queue; True when there was one."""
        guild_id = check_id(guild_id, "guild id")
        return (await self.session.execute(_CLEAR, {"guild_id": guild_id})).first() is not None
