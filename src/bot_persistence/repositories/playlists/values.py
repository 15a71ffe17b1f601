"""The values the playlist calls take and give: a track to add, and what is stored.

``TrackInput`` is validated when it is built (pydantic), so a bad URL or title
is refused before any statement runs; the others are slotted dataclasses built
from result rows, cheap for a playlist of thousands of tracks. They are not
frozen: a frozen dataclass sets each field through ``object.__setattr__``,
which measured ten times slower and made building the entries of a 50-track
playlist cost more than its query. Each call returns new values; changing one
writes nothing back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from pydantic import Field, JsonValue, field_validator

from bot_persistence.models import PlaylistScope
from bot_persistence.repositories.base import StrictModel, has_control_characters

__all__ = [
    "DEFAULT_MAX_TRACKS",
    "MAX_PLAYLIST_NAME_LENGTH",
    "PlaylistDetail",
    "PlaylistEntry",
    "PlaylistShareInfo",
    "PlaylistSummary",
    "TrackInfo",
    "TrackInput",
]

#: The most tracks one playlist may hold unless the repository is told otherwise.
DEFAULT_MAX_TRACKS = 10_000
MAX_PLAYLIST_NAME_LENGTH = 100


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


@dataclasses.dataclass(slots=True)
class TrackInfo:
    """A track as stored: its id is shared by every playlist that holds it."""

    id: int
    source_url: str
    title: str
    artist: str | None
    duration_seconds: int | None
    extra: dict[str, Any]


@dataclasses.dataclass(slots=True)
class PlaylistEntry:
    """A track at a 0-based position in a playlist."""

    position: int
    track: TrackInfo
    added_by: int | None
    added_at: dt.datetime


@dataclasses.dataclass(slots=True)
class PlaylistSummary:
    """A playlist without its tracks, as a list of a user's playlists shows it.

    ``owner_id`` is None only for a guild playlist whose creator was forgotten.
    """

    id: int
    owner_id: int | None
    guild_id: int | None
    name: str
    track_count: int
    created_at: dt.datetime
    updated_at: dt.datetime
    scope: PlaylistScope = PlaylistScope.USER


@dataclasses.dataclass(slots=True)
class PlaylistDetail:
    """A playlist with its entries in order."""

    id: int
    owner_id: int | None
    guild_id: int | None
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime
    entries: tuple[PlaylistEntry, ...]
    scope: PlaylistScope = PlaylistScope.USER

    @property
    def tracks(self) -> tuple[TrackInfo, ...]:
        """The tracks in playlist order."""
        return tuple(entry.track for entry in self.entries)


@dataclasses.dataclass(slots=True)
class PlaylistShareInfo:
    """A playlist shared with a user: to play it, or (``can_edit``) to change it too."""

    playlist_id: int
    user_id: int
    can_edit: bool
    shared_at: dt.datetime
