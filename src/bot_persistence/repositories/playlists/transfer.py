"""Playlists across owners and files: copy one, export it as JSON, import such a document.

The export format is ``bot-persistence.playlist/1``, a JSON object::

    {
      "format": "bot-persistence.playlist/1",
      "name": "Midnight Drive",
      "exported_at": "2026-12-05T04:30:00+00:00",
      "tracks": [
        {"url": "https://...", "title": "Neon Highway", "artist": "The Night Shift",
         "duration": 241, "extra": {}}
      ]
    }

``duration`` is in seconds; ``artist`` and ``duration`` may be null; ``extra``
is the track's source-specific JSON, as stored. A later, incompatible shape
gets a new number (``/2``), and a reader refuses a number it does not know
rather than guessing. An import checks the whole document (its size first,
then every field) before it writes anything: a malformed document is a
:class:`~bot_persistence.errors.MalformedImportError`, one with more tracks
than the repository's ``max_tracks`` (or more than ``MAX_IMPORT_BYTES`` of
text) an :class:`~bot_persistence.errors.ImportTooLargeError`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from bot_persistence.errors import (
    ImportTooLargeError,
    InvalidInputError,
    MalformedImportError,
    NotFoundError,
    PermissionDeniedError,
)
from bot_persistence.models import PlaylistScope
from bot_persistence.repositories.base import check_id, check_text, validate
from bot_persistence.repositories.playlists import _statements as sql
from bot_persistence.repositories.playlists.store import PlaylistStore
from bot_persistence.repositories.playlists.values import (
    MAX_PLAYLIST_NAME_LENGTH,
    PlaylistSummary,
    TrackInput,
)

__all__ = ["EXPORT_FORMAT", "MAX_IMPORT_BYTES", "PlaylistTransfer", "read_document"]

#: The ``format`` of the documents :meth:`PlaylistTransfer.export` writes.
EXPORT_FORMAT = "bot-persistence.playlist/1"
#: The most text an import reads (a document of 10 000 tracks is about 2 MB).
MAX_IMPORT_BYTES = 8 * 1024 * 1024

_DOCUMENT_KEYS = frozenset({"format", "name", "exported_at", "tracks"})
_TRACK_KEYS = {
    "url": "source_url",
    "title": "title",
    "artist": "artist",
    "duration": "duration_seconds",
    "extra": "extra",
}


def read_document(
    document: Mapping[str, Any] | str | bytes, *, max_tracks: int
) -> tuple[str, list[TrackInput]]:
    """The name and tracks of a ``bot-persistence.playlist/1`` document, checked whole.

    ``document`` is the parsed JSON object, or its text. Raises
    ImportTooLargeError or MalformedImportError; writes nothing.
    """
    if isinstance(document, str | bytes):
        size = len(
            document.encode("utf-8", "surrogatepass") if isinstance(document, str) else document
        )
        if size > MAX_IMPORT_BYTES:
            raise ImportTooLargeError(
                f"the playlist document is {size} bytes; an import reads at most "
                f"{MAX_IMPORT_BYTES}: split the playlist"
            )
        try:
            document = json.loads(document)
        except (ValueError, RecursionError) as exc:
            raise MalformedImportError(
                f"the playlist document is not JSON ({str(exc)[:120]}); export it again"
            ) from None
    if not isinstance(document, Mapping):
        raise MalformedImportError(
            f"a playlist document is a JSON object, not {type(document).__name__}"
        )
    found = document.get("format")
    if found != EXPORT_FORMAT:
        shown = repr(found)[:60] if isinstance(found, str) else "missing"
        raise MalformedImportError(
            f"the document's format is {shown}, not {EXPORT_FORMAT!r}; export it again with "
            "this version of the bot"
        )
    unknown = sorted(str(key)[:40] for key in document if key not in _DOCUMENT_KEYS)
    if unknown:
        raise MalformedImportError(f"the playlist document has unknown fields: {unknown[:5]}")
    tracks = document.get("tracks")
    if not isinstance(tracks, list):
        raise MalformedImportError("the playlist document's 'tracks' must be a list")
    if len(tracks) > max_tracks:
        raise ImportTooLargeError(
            f"the playlist document holds {len(tracks)} tracks; a playlist takes at most "
            f"{max_tracks}: split it"
        )
    try:
        name = check_text(
            document.get("name"), "the document's name", max_length=MAX_PLAYLIST_NAME_LENGTH
        )
        return name, [_track(index, item) for index, item in enumerate(tracks)]
    except MalformedImportError:
        raise
    except InvalidInputError as exc:
        raise MalformedImportError(str(exc)) from None


def _track(index: int, item: object) -> TrackInput:
    if not isinstance(item, Mapping):
        raise MalformedImportError(f"track {index} is {type(item).__name__}, not a JSON object")
    unknown = sorted(str(key)[:40] for key in item if key not in _TRACK_KEYS)
    if unknown:
        raise MalformedImportError(f"track {index} has unknown fields: {unknown[:5]}")
    values = {_TRACK_KEYS[key]: value for key, value in item.items() if value is not None}
    return validate(TrackInput, values, f"track {index}")


class PlaylistTransfer(PlaylistStore):
    """The copy, export and import calls of the playlist repository."""

    async def export(self, playlist_id: int) -> dict[str, Any]:
        """The playlist as a ``bot-persistence.playlist/1`` document (``json.dumps`` it)."""
        detail = await self.get(playlist_id)
        return {
            "format": EXPORT_FORMAT,
            "name": detail.name,
            "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "tracks": [
                {
                    "url": track.source_url,
                    "title": track.title,
                    "artist": track.artist,
                    "duration": track.duration_seconds,
                    "extra": track.extra,
                }
                for track in detail.tracks
            ],
        }

    async def import_playlist(
        self,
        owner_id: int,
        document: Mapping[str, Any] | str | bytes,
        name: str | None = None,
    ) -> PlaylistSummary:
        """A new playlist of ``owner_id``'s from an exported document (or its JSON text).

        ``name`` overrides the document's. The document is checked whole
        before anything is written; then the playlist is created and its
        tracks added in a few statements (AlreadyExistsError when the owner
        has a playlist of that name).
        """
        owner_id = check_id(owner_id, "owner id")
        if name is not None:
            name = check_text(name, "playlist name", max_length=MAX_PLAYLIST_NAME_LENGTH)
        document_name, tracks = read_document(document, max_tracks=self.max_tracks)
        created = await self.create(owner_id, name or document_name)
        await self.add_tracks(created.id, tracks, added_by=owner_id)
        created.track_count = len(tracks)
        return created

    async def copy(
        self, playlist_id: int, new_owner_id: int, name: str | None = None
    ) -> PlaylistSummary:
        """A copy of the playlist, owned by ``new_owner_id`` (user scope), same name by default.

        The new owner must be able to see the playlist: theirs, shared with
        them, or a guild's (PermissionDeniedError otherwise). The entries go
        across in one statement, whatever their number.
        """
        playlist_id = check_id(playlist_id, "playlist id")
        new_owner_id = check_id(new_owner_id, "new owner id")
        if name is not None:
            name = check_text(name, "playlist name", max_length=MAX_PLAYLIST_NAME_LENGTH)
        row = (
            await self.session.execute(sql.EDITOR, {"pid": playlist_id, "by": new_owner_id})
        ).first()
        if row is None:
            raise NotFoundError(f"playlist {playlist_id} does not exist (deleted, or a wrong id)")
        owner_id, shared, scope = row
        if scope is PlaylistScope.USER and owner_id != new_owner_id and shared is None:
            raise PermissionDeniedError(
                f"user {new_owner_id} may not copy playlist {playlist_id}: it is another user's "
                "and not shared with them"
            )
        head = (await self.session.execute(sql.HEAD, {"pid": playlist_id})).one()
        created = await self.create(new_owner_id, name or head[3], guild_id=head[2])
        copied = await self.session.execute(
            sql.COPY_ENTRIES, {"target": created.id, "source": playlist_id}
        )
        if copied.rowcount > self.max_tracks:
            raise InvalidInputError(
                f"playlist {playlist_id} holds {copied.rowcount} tracks; a playlist here may "
                f"hold at most {self.max_tracks}"
            )
        created.track_count = copied.rowcount
        return created
