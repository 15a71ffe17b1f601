"""Load ``seeds/`` into the database: an idempotent upsert on natural keys.

Seeds are data, not code: one JSON file per table, validated here with
pydantic so a typo names its file and item. Applying them twice leaves the same
rows with the same ids: users, guilds, settings and preferences are upserted on
their primary keys, tracks on their source URL, playlists on (owner, name) or
(guild, name) by scope, and each seeded playlist's entries are brought to
exactly the listed order in place, its shares upserted. A guild's saved queue
is replaced whole; a history row is added once (by guild, track and time), and
each guild's play counts are set to what its seeded history holds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    and_,
    delete,
    exists,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

from bot_persistence.connection import first_line
from bot_persistence.devdb.guards import guard_seeding
from bot_persistence.devdb.target import Target
from bot_persistence.errors import SeedError
from bot_persistence.models import (
    Guild,
    GuildSettings,
    PlayHistory,
    Playlist,
    PlaylistScope,
    PlaylistShare,
    PlaylistTrack,
    QueueTrack,
    RepeatMode,
    SavedQueue,
    Track,
    TrackPlays,
    TrackSource,
    User,
    UserPreferences,
)
from bot_persistence.project import seeds_dir

__all__ = ["SeedData", "SeedReport", "apply_seeds", "apply_seeds_on", "load_seeds"]

M = TypeVar("M", bound=BaseModel)


class _Seed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserSeed(_Seed):
    id: int = Field(gt=0)
    username: str = Field(min_length=1, max_length=32)


class GuildSeed(_Seed):
    id: int = Field(gt=0)
    name: str = Field(min_length=1, max_length=100)


class GuildSettingsSeed(_Seed):
    guild_id: int = Field(gt=0)
    prefix: str = Field(default="!", min_length=1, max_length=8)
    dj_role_id: int | None = None
    default_volume: int = Field(default=50, ge=0, le=200)
    locale: str = Field(default="en-US", min_length=2, max_length=10)
    announce_channel_id: int | None = None
    announce_now_playing: bool = True
    max_queue_length: int = Field(default=500, ge=1, le=10_000)
    dj_only: bool = False
    dj_role_ids: list[int] = Field(default_factory=list, max_length=25)
    max_volume: int = Field(default=200, ge=0, le=200)
    vote_skip_ratio: float = Field(default=0.5, gt=0, le=1)
    stay_channel_id: int | None = None
    idle_disconnect_seconds: int = Field(default=300, ge=0, le=86_400)
    repeat_mode: RepeatMode = RepeatMode.OFF
    request_channel_id: int | None = None


class UserPreferencesSeed(_Seed):
    user_id: int = Field(gt=0)
    preferred_volume: int = Field(default=50, ge=0, le=200)
    autoplay: bool = False
    repeat_mode: RepeatMode = RepeatMode.OFF


class TrackSeed(_Seed):
    source_url: str = Field(min_length=1)
    title: str = Field(min_length=1, max_length=300)
    artist: str | None = Field(default=None, max_length=300)
    duration_seconds: int | None = Field(default=None, ge=0)
    #: Told by the URL's host when the seed does not say.
    source: TrackSource | None = None

    def row(self) -> dict[str, Any]:
        """The ``tracks`` row, with the source filled in from the URL when not given."""
        values = self.model_dump(mode="json")
        values["source"] = (self.source or TrackSource.from_url(self.source_url)).value
        return values


class ShareSeed(_Seed):
    user_id: int = Field(gt=0)
    can_edit: bool = False


class PlaylistSeed(_Seed):
    owner_id: int = Field(gt=0)
    guild_id: int | None = None
    name: str = Field(min_length=1, max_length=100)
    scope: PlaylistScope = PlaylistScope.USER
    tracks: list[TrackSeed] = Field(default_factory=list)
    shares: list[ShareSeed] = Field(default_factory=list)


class SavedQueueSeed(_Seed):
    guild_id: int = Field(gt=0)
    voice_channel_id: int | None = None
    text_channel_id: int | None = None
    current_index: int = Field(default=0, ge=0)
    position_ms: int = Field(default=0, ge=0)
    volume: int = Field(default=50, ge=0, le=200)
    repeat_mode: RepeatMode = RepeatMode.OFF
    paused: bool = False
    tracks: list[TrackSeed] = Field(default_factory=list)


class PlaySeed(_Seed):
    guild_id: int = Field(gt=0)
    user_id: int | None = None
    played_at: dt.datetime
    track: TrackSeed


@dataclasses.dataclass(frozen=True)
class SeedData:
    """Everything in ``seeds/``, validated."""

    users: Sequence[UserSeed]
    guilds: Sequence[GuildSeed]
    guild_settings: Sequence[GuildSettingsSeed]
    user_preferences: Sequence[UserPreferencesSeed]
    playlists: Sequence[PlaylistSeed]
    saved_queues: Sequence[SavedQueueSeed] = ()
    play_history: Sequence[PlaySeed] = ()

    def tracks(self) -> list[TrackSeed]:
        """Every track the seeds name, in playlists, queues and history."""
        return [
            *(track for playlist in self.playlists for track in playlist.tracks),
            *(track for queue in self.saved_queues for track in queue.tracks),
            *(play.track for play in self.play_history),
        ]


@dataclasses.dataclass(frozen=True)
class SeedReport:
    """How many seed rows of each kind are now in the database."""

    counts: dict[str, int]

    def summary(self) -> str:
        """``4 users, 2 guilds, ...`` for one output line."""
        return ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in self.counts.items())


def _read(folder: Path, name: str, model: type[M]) -> list[M]:
    path = folder / f"{name}.json"
    if not path.is_file():
        return []
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SeedError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from None
    try:
        return TypeAdapter(list[model]).validate_python(raw)  # type: ignore[valid-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SeedError(f"{path}: item {where}: {first['msg']}; fix the seed file") from None


def load_seeds(folder: Path | None = None) -> SeedData:
    """Read and validate every seed file; a missing file means no rows of that kind."""
    folder = folder or seeds_dir()
    if not folder.is_dir():
        raise SeedError(f"no seed folder at {folder}; run bot-db from the project checkout")
    return SeedData(
        users=_read(folder, "users", UserSeed),
        guilds=_read(folder, "guilds", GuildSeed),
        guild_settings=_read(folder, "guild_settings", GuildSettingsSeed),
        user_preferences=_read(folder, "user_preferences", UserPreferencesSeed),
        playlists=_read(folder, "playlists", PlaylistSeed),
        saved_queues=_read(folder, "saved_queues", SavedQueueSeed),
        play_history=_read(folder, "play_history", PlaySeed),
    )


def _upsert(conn: Connection, model: type[Any], rows: Sequence[_Seed], keys: Sequence[str]) -> None:
    if not rows:
        return
    values = [row.model_dump(mode="json") for row in rows]
    statement = insert(model).values(values)
    updates = {name: statement.excluded[name] for name in values[0] if name not in keys}
    conn.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=updates))


def _track_ids(conn: Connection, tracks: Sequence[TrackSeed]) -> dict[str, int]:
    unique = {track.source_url: track for track in tracks}
    if not unique:
        return {}
    values = [track.row() for track in unique.values()]
    statement = insert(Track).values(values)
    upsert = statement.on_conflict_do_update(
        index_elements=["source_url"],
        set_={
            name: statement.excluded[name]
            for name in ("title", "artist", "duration_seconds", "source")
        },
    ).returning(Track.source_url, Track.id)
    return {row.source_url: row.id for row in conn.execute(upsert)}


def _sync_entries(conn: Connection, playlist_id: int, track_ids: Sequence[int]) -> None:
    """Make the playlist hold exactly ``track_ids`` at positions 0..n-1, rows kept in place.

    The (playlist, position) constraint is deferrable, which ON CONFLICT cannot
    use as an arbiter, so this compares and updates instead of upserting.
    """
    existing = dict(
        conn.execute(
            select(PlaylistTrack.position, PlaylistTrack.track_id).where(
                PlaylistTrack.playlist_id == playlist_id
            )
        ).all()
    )
    conn.execute(
        delete(PlaylistTrack).where(
            PlaylistTrack.playlist_id == playlist_id, PlaylistTrack.position >= len(track_ids)
        )
    )
    for position, track_id in enumerate(track_ids):
        if position not in existing:
            conn.execute(
                insert(PlaylistTrack).values(
                    playlist_id=playlist_id, track_id=track_id, position=position
                )
            )
        elif existing[position] != track_id:
            conn.execute(
                update(PlaylistTrack)
                .where(PlaylistTrack.playlist_id == playlist_id, PlaylistTrack.position == position)
                .values(track_id=track_id)
            )


def _playlist(conn: Connection, playlist: PlaylistSeed) -> int:
    """Upsert one playlist on its scope's natural key; its id."""
    statement = insert(Playlist).values(
        owner_id=playlist.owner_id,
        guild_id=playlist.guild_id,
        name=playlist.name,
        scope=playlist.scope,
    )
    if playlist.scope is PlaylistScope.GUILD:
        upsert = statement.on_conflict_do_update(
            index_elements=["guild_id", "name"],
            index_where=text("scope = 'guild'"),
            set_={"owner_id": statement.excluded.owner_id},
        )
    else:
        upsert = statement.on_conflict_do_update(
            index_elements=["owner_id", "name"],
            index_where=text("scope = 'user'"),
            set_={"guild_id": statement.excluded.guild_id},
        )
    playlist_id: int = conn.execute(upsert.returning(Playlist.id)).scalar_one()
    for share in playlist.shares:
        new = insert(PlaylistShare).values(
            playlist_id=playlist_id, user_id=share.user_id, can_edit=share.can_edit
        )
        conn.execute(
            new.on_conflict_do_update(
                index_elements=["playlist_id", "user_id"],
                set_={"can_edit": new.excluded.can_edit},
            )
        )
    return playlist_id


def _queue(conn: Connection, queue: SavedQueueSeed, track_ids: dict[str, int]) -> None:
    """Replace the guild's saved queue with the seeded one."""
    values = queue.model_dump(exclude={"tracks"})
    new = insert(SavedQueue).values(**values)
    conn.execute(
        new.on_conflict_do_update(
            index_elements=["guild_id"],
            set_={name: new.excluded[name] for name in values if name != "guild_id"},
        )
    )
    conn.execute(delete(QueueTrack).where(QueueTrack.guild_id == queue.guild_id))
    if queue.tracks:
        conn.execute(
            insert(QueueTrack),
            [
                {"guild_id": queue.guild_id, "position": n, "track_id": track_ids[t.source_url]}
                for n, t in enumerate(queue.tracks)
            ],
        )


def _history(conn: Connection, plays: Sequence[PlaySeed], track_ids: dict[str, int]) -> None:
    """Add each seeded play once; set each guild's counts to what the seeds played."""
    for play in plays:
        track_id = track_ids[play.track.source_url]
        already = exists().where(
            and_(
                PlayHistory.guild_id == play.guild_id,
                PlayHistory.track_id == track_id,
                PlayHistory.played_at == play.played_at,
            )
        )
        conn.execute(
            insert(PlayHistory).from_select(
                ["guild_id", "user_id", "track_id", "played_at"],
                select(
                    literal(play.guild_id, BigInteger),
                    literal(play.user_id, BigInteger),
                    literal(track_id, BigInteger),
                    literal(play.played_at, DateTime(timezone=True)),
                ).where(~already),
            )
        )
    counts = Counter((play.guild_id, track_ids[play.track.source_url]) for play in plays)
    last: dict[tuple[int, int], dt.datetime] = {}
    for play in plays:
        key = (play.guild_id, track_ids[play.track.source_url])
        last[key] = max(last.get(key, play.played_at), play.played_at)
    if counts:
        rows = [
            {"guild_id": g, "track_id": t, "play_count": n, "last_played_at": last[(g, t)]}
            for (g, t), n in sorted(counts.items())
        ]
        new = insert(TrackPlays).values(rows)
        conn.execute(
            new.on_conflict_do_update(
                index_elements=["guild_id", "track_id"],
                set_={
                    "play_count": new.excluded.play_count,
                    "last_played_at": new.excluded.last_played_at,
                },
            )
        )


def _apply(conn: Connection, data: SeedData) -> None:
    _upsert(conn, User, data.users, ["id"])
    _upsert(conn, Guild, data.guilds, ["id"])
    _upsert(conn, GuildSettings, data.guild_settings, ["guild_id"])
    _upsert(conn, UserPreferences, data.user_preferences, ["user_id"])
    track_ids = _track_ids(conn, data.tracks())
    for playlist in data.playlists:
        playlist_id = _playlist(conn, playlist)
        _sync_entries(conn, playlist_id, [track_ids[t.source_url] for t in playlist.tracks])
    for queue in data.saved_queues:
        _queue(conn, queue, track_ids)
    _history(conn, data.play_history, track_ids)


def apply_seeds(target: Target, *, folder: Path | None = None, force: bool = False) -> SeedReport:
    """Upsert the seed data in one transaction, on the target's connection; all or nothing.

    Refused before connecting for a production or (without ``force``) non-local
    database: sample data must never reach a real one.
    """
    guard_seeding(target.settings, force=force)
    data = load_seeds(folder)
    with target.sqlalchemy() as conn:
        try:
            with conn.begin():
                _apply(conn, data)
        except DBAPIError as exc:
            raise SeedError(
                f"seeding failed and nothing was changed: {first_line(exc)}; check the seed files "
                "(and that the database is migrated: `bot-db migrate`)"
            ) from None
    return _report(data)


def apply_seeds_on(conn: Connection, *, folder: Path | None = None) -> SeedReport:
    """Upsert the seed data through an open connection, in the caller's transaction.

    For checks that already hold a connection (the migration roundtrip); driver
    errors are the caller's to handle.
    """
    data = load_seeds(folder)
    _apply(conn, data)
    return _report(data)


def _report(data: SeedData) -> SeedReport:
    return SeedReport(
        counts={
            "users": len(data.users),
            "guilds": len(data.guilds),
            "guild_settings": len(data.guild_settings),
            "user_preferences": len(data.user_preferences),
            "playlists": len(data.playlists),
            "saved_queues": len(data.saved_queues),
            "plays": len(data.play_history),
            "tracks": len({t.source_url for t in data.tracks()}),
        }
    )
