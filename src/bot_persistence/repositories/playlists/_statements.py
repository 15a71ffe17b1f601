"""The playlist repository's statements, built once at import with bind parameters.

Building a statement per call would cost more than the round trip it makes, so
every one is a module constant that the repository executes with a dict of
parameters. They work on Core tables, not ORM objects: a playlist of thousands
of tracks costs tuples rather than tracked instances.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Text,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from bot_persistence.models import Base, PlaylistScope

_playlists = Base.metadata.tables["playlists"]
_tracks = Base.metadata.tables["tracks"]
_entries = Base.metadata.tables["playlist_tracks"]
_shares = Base.metadata.tables["playlist_shares"]

SUMMARY_COLUMNS = (
    _playlists.c.id,
    _playlists.c.owner_id,
    _playlists.c.guild_id,
    _playlists.c.name,
)
TRACK_COUNT = (
    select(func.count())
    .where(_entries.c.playlist_id == _playlists.c.id)
    .scalar_subquery()
    .label("track_count")
)
# The columns of a PlaylistSummary, in its field order.
SUMMARY = (
    *SUMMARY_COLUMNS,
    TRACK_COUNT,
    _playlists.c.created_at,
    _playlists.c.updated_at,
    _playlists.c.scope,
)
USER_SCOPE = _playlists.c.scope == PlaylistScope.USER
GUILD_SCOPE = _playlists.c.scope == PlaylistScope.GUILD
# ON CONFLICT names a partial unique index by its predicate, written out literally: with
# a bind parameter the server cannot prove it implies the index's predicate once the
# statement is prepared (psycopg prepares after five runs) and a generic plan is used.
_USER_INDEX_WHERE = text("scope = 'user'")
_GUILD_INDEX_WHERE = text("scope = 'guild'")
TRACK_COLUMNS = (
    _tracks.c.id,
    _tracks.c.source_url,
    _tracks.c.title,
    _tracks.c.artist,
    _tracks.c.duration_seconds,
    _tracks.c.extra,
)

# "pid", not "playlist_id": SQLAlchemy keeps column names for VALUES/SET parameters.
PLAYLIST = _playlists.c.id == bindparam("pid")
IN_PLAYLIST = _entries.c.playlist_id == bindparam("pid")
# One per scope: ON CONFLICT names the partial unique index of that scope.
CREATE = (
    pg_insert(_playlists)
    .values(owner_id=bindparam("owner_id"), name=bindparam("name"), guild_id=bindparam("guild_id"))
    .on_conflict_do_nothing(index_elements=["owner_id", "name"], index_where=_USER_INDEX_WHERE)
    .returning(_playlists.c.id, _playlists.c.created_at, _playlists.c.updated_at)
)
CREATE_GUILD = (
    pg_insert(_playlists)
    .values(
        owner_id=bindparam("owner_id"),
        name=bindparam("name"),
        guild_id=bindparam("guild_id"),
        scope=PlaylistScope.GUILD,
    )
    .on_conflict_do_nothing(index_elements=["guild_id", "name"], index_where=_GUILD_INDEX_WHERE)
    .returning(_playlists.c.id, _playlists.c.created_at, _playlists.c.updated_at)
)
RENAME = (
    update(_playlists)
    .where(PLAYLIST)
    .values(name=bindparam("new_name"), updated_at=func.now())
    .returning(*SUMMARY)
)
DELETE = delete(_playlists).where(PLAYLIST).returning(_playlists.c.id)
HEAD = select(
    *SUMMARY_COLUMNS, _playlists.c.created_at, _playlists.c.updated_at, _playlists.c.scope
).where(PLAYLIST)
ENTRIES = (
    select(_entries.c.position, _entries.c.added_by, _entries.c.added_at, *TRACK_COLUMNS)
    .join_from(_entries, _tracks, _entries.c.track_id == _tracks.c.id)
    .where(IN_PLAYLIST)
    .order_by(_entries.c.position)
)
BY_NAME = select(*SUMMARY).where(
    _playlists.c.owner_id == bindparam("owner_id"),
    _playlists.c.name == bindparam("name"),
    USER_SCOPE,
)
_PAGE = (bindparam("limit", type_=Integer), bindparam("offset", type_=Integer))


def _by_name(*where: ColumnElement[bool]) -> Select[Any]:
    """One page of the playlists matching ``where``, by name, with their track counts."""
    return (
        select(*SUMMARY).where(*where).order_by(_playlists.c.name).limit(_PAGE[0]).offset(_PAGE[1])
    )


LIST = _by_name(_playlists.c.owner_id == bindparam("owner_id"), USER_SCOPE)
LIST_FOR_GUILD = _by_name(_playlists.c.guild_id == bindparam("guild_id"), GUILD_SCOPE)
LIST_SHARED_WITH = (
    select(*SUMMARY)
    .join_from(_playlists, _shares, _shares.c.playlist_id == _playlists.c.id)
    .where(_shares.c.user_id == bindparam("user_id"))
    .order_by(_playlists.c.name, _playlists.c.id)
    .limit(_PAGE[0])
    .offset(_PAGE[1])
)
COUNT = select(TRACK_COUNT).where(PLAYLIST)
# Whether the user ("by") may edit: NULL when the playlist is not shared with them.
CAN_EDIT = (
    select(_shares.c.can_edit)
    .where(_shares.c.playlist_id == _playlists.c.id, _shares.c.user_id == bindparam("by"))
    .scalar_subquery()
)
# Locks the playlist's row until the unit of work ends (and records the change); says
# who owns it and whether "by" may edit, for the permission check.
LOCK = (
    update(_playlists)
    .where(PLAYLIST)
    .values(updated_at=func.now())
    .returning(_playlists.c.id, _playlists.c.owner_id, CAN_EDIT)
)
EDITOR = select(_playlists.c.owner_id, CAN_EDIT, _playlists.c.scope).where(PLAYLIST)
# -- sharing
_new_share = pg_insert(_shares).values(
    playlist_id=bindparam("pid"), user_id=bindparam("user_id"), can_edit=bindparam("can_edit")
)
SHARE = _new_share.on_conflict_do_update(
    index_elements=["playlist_id", "user_id"],
    set_={"can_edit": _new_share.excluded.can_edit},
).returning(_shares.c.shared_at)
UNSHARE = (
    delete(_shares)
    .where(_shares.c.playlist_id == bindparam("pid"), _shares.c.user_id == bindparam("user_id"))
    .returning(_shares.c.user_id)
)
SHARES = (
    select(_shares.c.user_id, _shares.c.can_edit, _shares.c.shared_at)
    .where(_shares.c.playlist_id == bindparam("pid"))
    .order_by(_shares.c.user_id)
)
# -- copying: the entries go across in one INSERT ... SELECT, whatever their number
COPY_ENTRIES = insert(_entries).from_select(
    ["playlist_id", "track_id", "position", "added_by"],
    select(
        bindparam("target", type_=BigInteger),
        _entries.c.track_id,
        _entries.c.position,
        _entries.c.added_by,
    ).where(_entries.c.playlist_id == bindparam("source", type_=BigInteger)),
)
SIZE = select(func.count(), func.coalesce(func.max(_entries.c.position) + 1, 0)).where(IN_PLAYLIST)
NEW_TRACKS = pg_insert(_tracks).on_conflict_do_nothing(index_elements=["source_url"])
INSERT_TRACK = NEW_TRACKS.returning(_tracks.c.id)
# An import sends its rows as one array per column: one statement, one round trip,
# whatever the count (executemany would send a statement per row).
_staged_tracks = (
    func.unnest(
        bindparam("urls", type_=ARRAY(Text)),
        bindparam("titles", type_=ARRAY(Text)),
        bindparam("artists", type_=ARRAY(Text)),
        bindparam("durations", type_=ARRAY(Integer)),
        bindparam("extras", type_=ARRAY(JSONB)),
    )
    .table_valued("source_url", "title", "artist", "duration_seconds", "extra")
    .render_derived(name="staged")
)
#: The tracks not stored yet, from the arrays; a saved queue adds its tracks so too.
NEW_TRACKS_FROM_ARRAYS = (
    pg_insert(_tracks)
    .from_select(
        ["source_url", "title", "artist", "duration_seconds", "extra"],
        select(*_staged_tracks.c),
    )
    .on_conflict_do_nothing(index_elements=["source_url"])
)
INSERT_TRACKS = NEW_TRACKS_FROM_ARRAYS.returning(_tracks.c.source_url, _tracks.c.id)
_staged_entries = (
    func.unnest(bindparam("track_ids", type_=ARRAY(BigInteger)))
    .table_valued("track_id", with_ordinality="n")
    .render_derived(name="staged")
)
APPEND_ENTRIES = insert(_entries).from_select(
    ["playlist_id", "track_id", "position", "added_by"],
    select(
        bindparam("target", type_=BigInteger),
        _staged_entries.c.track_id,
        bindparam("start", type_=Integer) + _staged_entries.c.n - 1,
        bindparam("by", type_=BigInteger),
    ),
)
TRACK_BY_URL = select(*TRACK_COLUMNS).where(_tracks.c.source_url == bindparam("source_url"))
TRACK_BY_ID = select(*TRACK_COLUMNS).where(_tracks.c.id == bindparam("track_id"))
IDS_BY_URL = select(_tracks.c.source_url, _tracks.c.id).where(
    _tracks.c.source_url == any_(bindparam("urls", type_=ARRAY(Text)))
)
INSERT_ENTRY = insert(_entries).returning(_entries.c.added_at)
SHIFT_DOWN = (
    update(_entries)
    .where(IN_PLAYLIST, _entries.c.position >= bindparam("from_position", type_=Integer))
    .values(position=_entries.c.position + 1)
)
SHIFT_UP = (
    update(_entries)
    .where(IN_PLAYLIST, _entries.c.position > bindparam("after_position", type_=Integer))
    .values(position=_entries.c.position - 1)
)
REMOVE = (
    delete(_entries)
    .where(IN_PLAYLIST, _entries.c.position == bindparam("at_position", type_=Integer))
    .returning(_entries.c.track_id)
)
# The moved row takes its new place and the run between shifts by one ("step"), in
# one statement: the deferrable constraint is checked when the statement ends.
MOVE = (
    update(_entries)
    .where(
        IN_PLAYLIST,
        _entries.c.position.between(
            bindparam("low", type_=Integer), bindparam("high", type_=Integer)
        ),
    )
    .values(
        position=case(
            (
                _entries.c.position == bindparam("source", type_=Integer),
                bindparam("target", type_=Integer),
            ),
            else_=_entries.c.position + bindparam("step", type_=Integer),
        )
    )
)
