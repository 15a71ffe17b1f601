"""Load ``seeds/`` into the database: an idempotent upsert on natural keys.

Seeds are data, not code: one JSON file per table, validated here with
pydantic so a typo names its file and item. Applying them twice leaves the same
rows with the same ids: users, guilds, settings and preferences are upserted on
their primary keys, tracks on their source URL, playlists on (owner, name), and
each seeded playlist's entries are brought to exactly the listed order in place.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError

from bot_persistence.connection import first_line
from bot_persistence.devdb.guards import guard_seeding
from bot_persistence.devdb.target import Target
from bot_persistence.errors import SeedError
from bot_persistence.models import (
    Guild,
    GuildSettings,
    Playlist,
    PlaylistTrack,
    RepeatMode,
    Track,
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


class PlaylistSeed(_Seed):
    owner_id: int = Field(gt=0)
    guild_id: int | None = None
    name: str = Field(min_length=1, max_length=100)
    tracks: list[TrackSeed] = Field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class SeedData:
    """Everything in ``seeds/``, validated."""

    users: Sequence[UserSeed]
    guilds: Sequence[GuildSeed]
    guild_settings: Sequence[GuildSettingsSeed]
    user_preferences: Sequence[UserPreferencesSeed]
    playlists: Sequence[PlaylistSeed]


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


def _apply(conn: Connection, data: SeedData) -> None:
    _upsert(conn, User, data.users, ["id"])
    _upsert(conn, Guild, data.guilds, ["id"])
    _upsert(conn, GuildSettings, data.guild_settings, ["guild_id"])
    _upsert(conn, UserPreferences, data.user_preferences, ["user_id"])
    track_ids = _track_ids(
        conn, [track for playlist in data.playlists for track in playlist.tracks]
    )
    for playlist in data.playlists:
        statement = insert(Playlist).values(
            owner_id=playlist.owner_id, guild_id=playlist.guild_id, name=playlist.name
        )
        upsert = statement.on_conflict_do_update(
            index_elements=["owner_id", "name"], set_={"guild_id": statement.excluded.guild_id}
        ).returning(Playlist.id)
        playlist_id = conn.execute(upsert).scalar_one()
        _sync_entries(conn, playlist_id, [track_ids[t.source_url] for t in playlist.tracks])


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
            "tracks": len({t.source_url for p in data.playlists for t in p.tracks}),
        }
    )
