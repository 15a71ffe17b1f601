"""Every integer a caller can pass, at the edges of the column it lands in.

PostgreSQL's SMALLINT, INTEGER and BIGINT end where Python's ``int`` does not:
one past the end must be our :class:`~bot_persistence.errors.InvalidInputError`
(checked before any statement runs), never the driver's
``NumericValueOutOfRange`` or an overflow raised while it encodes the value.
Table-driven, so each edge is tried on every run, not when a generator hits it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import Connection, select

from bot_persistence.db import Database
from bot_persistence.errors import RepositoryError
from bot_persistence.models import Base
from bot_persistence.repositories import (
    GuildSettingsRepository,
    PlaylistRepository,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings
from tests.helpers import engine_for

USER = 500000000000000001
GUILD = 500000000000000002

#: Both sides of every edge a PostgreSQL integer type has, and far beyond them.
EDGES = [
    -(2**63) - 1,
    -(2**63),
    -(2**31) - 1,
    -(2**31),
    -(2**15) - 1,
    -1,
    0,
    1,
    2**15 - 1,
    2**15,
    2**31 - 1,
    2**31,
    2**63 - 1,
    2**63,
    2**64,
    10**100,
]

Repos = tuple[PlaylistRepository, GuildSettingsRepository, UserPreferencesRepository]
Call = Callable[[Repos, int, int], Awaitable[object]]
#: Each public call with one integer parameter left open; the playlist is the fixture's.
CALLS: dict[str, Call] = {
    "ensure_user(user_id)": lambda r, p, n: r[2].ensure_user(n, "u"),
    "ensure_guild(guild_id)": lambda r, p, n: r[1].ensure_guild(n, "g"),
    "prefs.get(user_id)": lambda r, p, n: r[2].get(n),
    "prefs.set(preferred_volume)": lambda r, p, n: r[2].set(USER, {"preferred_volume": n}),
    "guild.get(guild_id)": lambda r, p, n: r[1].get(n),
    "guild.update(default_volume)": lambda r, p, n: r[1].update(GUILD, {"default_volume": n}),
    "guild.update(max_queue_length)": lambda r, p, n: r[1].update(GUILD, {"max_queue_length": n}),
    "guild.update(dj_role_id)": lambda r, p, n: r[1].update(GUILD, {"dj_role_id": n}),
    "guild.update(announce_channel_id)": lambda r, p, n: r[1].update(
        GUILD, {"announce_channel_id": n}
    ),
    "create(owner_id)": lambda r, p, n: r[0].create(n, "x"),
    "create(guild_id)": lambda r, p, n: r[0].create(USER, "x", guild_id=n),
    "rename(playlist_id)": lambda r, p, n: r[0].rename(n, "y"),
    "delete(playlist_id)": lambda r, p, n: r[0].delete(n),
    "get(playlist_id)": lambda r, p, n: r[0].get(n),
    "get_by_name(owner_id)": lambda r, p, n: r[0].get_by_name(n, "mine"),
    "list_for_user(owner_id)": lambda r, p, n: r[0].list_for_user(n),
    "list_for_user(limit)": lambda r, p, n: r[0].list_for_user(USER, limit=n),
    "list_for_user(offset)": lambda r, p, n: r[0].list_for_user(USER, offset=n),
    "count(playlist_id)": lambda r, p, n: r[0].count(n),
    "add_track(duration_seconds)": lambda r, p, n: r[0].add_track(
        p, {"source_url": "https://music.example/d", "title": "d", "duration_seconds": n}
    ),
    "add_track(position)": lambda r, p, n: r[0].add_track(
        p, {"source_url": "https://music.example/p", "title": "p"}, position=n
    ),
    "add_track(added_by)": lambda r, p, n: r[0].add_track(
        p, {"source_url": "https://music.example/a", "title": "a"}, added_by=n
    ),
    "add_tracks(duration_seconds)": lambda r, p, n: r[0].add_tracks(
        p, [{"source_url": "https://music.example/e", "title": "e", "duration_seconds": n}]
    ),
    "remove_track(position)": lambda r, p, n: r[0].remove_track(p, n),
    "move_track(from_position)": lambda r, p, n: r[0].move_track(p, n, 0),
    "move_track(to_position)": lambda r, p, n: r[0].move_track(p, 0, n),
}


@pytest.fixture
async def playlist(db: Database) -> int:
    """A user, a guild and a playlist with two tracks; the playlist's id."""
    async with db.session() as session:
        await UserPreferencesRepository(session).ensure_user(USER, "user")
        await GuildSettingsRepository(session).ensure_guild(GUILD, "guild")
        playlists = PlaylistRepository(session)
        created = await playlists.create(USER, "mine", guild_id=GUILD)
        await playlists.add_tracks(
            created.id,
            [{"source_url": f"https://music.example/{n}", "title": str(n)} for n in (1, 2)],
        )
    return created.id


async def test_every_integer_edge_of_every_call_is_a_result_or_our_typed_error(
    db: Database, migrated: Settings, playlist: int
) -> None:
    unexpected: list[str] = []
    with engine_for(migrated) as engine, engine.connect() as conn:
        before = rows(conn)
        for call, make_call in CALLS.items():
            for value in EDGES:
                failure = await _call(db, make_call, playlist, value)
                now = rows(conn)
                if failure is None:
                    before = now
                elif failure.startswith("!"):  # the driver's error, the class this test finds
                    unexpected.append(f"{call} = {value}: {failure[1:]}")
                else:
                    assert "\n" not in failure, f"{call}: a typed error of more than one line"
                    assert now == before, f"{call} = {value} failed ({failure}) yet changed rows"
    assert not unexpected, "\n".join(unexpected)


def rows(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, ids included, read on one open connection."""
    try:
        return {
            table.name: [
                tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key))
            ]
            for table in Base.metadata.sorted_tables
        }
    finally:
        conn.rollback()


async def _call(db: Database, make_call: Call, playlist: int, value: int) -> str | None:
    """``None`` when the call succeeded; our error's text; ``!`` and any other error's."""
    try:
        async with db.session() as session:
            repos: Repos = (
                PlaylistRepository(session),
                GuildSettingsRepository(session),
                UserPreferencesRepository(session),
            )
            result: Any = make_call(repos, playlist, value)
            await result
    except RepositoryError as exc:
        return str(exc)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        return f"!{type(exc).__name__}: {first:.100}"
    return None
