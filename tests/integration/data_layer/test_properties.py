"""Property tests: whatever a caller passes to a repository, the answer is a result or ours.

Every public repository method is called with generated arguments over the
whole of each parameter's type: any code point (lone surrogates, NUL,
right-to-left marks, 100 000 characters), text wrapped in whitespace and
newlines or holding path separators, every Python ``int`` (the edges of
SMALLINT, INTEGER and BIGINT drawn on purpose, and far past them), values of
the wrong type, any JSON. The call either
succeeds or raises one of our :class:`~bot_persistence.errors.RepositoryError`
types, and after an error the database holds exactly what it held before.
Hypothesis' example budget comes from the profile (``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot_persistence.db import Database
from bot_persistence.errors import RepositoryError
from bot_persistence.repositories import (
    GuildSettingsRepository,
    HistoryRepository,
    PlaylistRepository,
    QueueRepository,
    UserPreferencesRepository,
)
from bot_persistence.repositories.base import MAX_BIGINT
from bot_persistence.session import Session
from bot_persistence.settings import Settings
from tests.helpers import table_rows as snapshot

USER = 500000000000000001
GUILD = 500000000000000002

#: Text a user, a bug or an attacker can hand over; surrogates included on purpose.
HOSTILE = [
    "\ud800",
    "name\udfff",
    "a\x00b",
    "\u202eevil\u202c",
    "\u0645\u0631\u062d\u0628\u0627",
    "e\u0301\u0301\u0301",
    "\U0001f3b5" * 40,
    " ",
    "",
    "'; DROP TABLE users; --",
    "\\x00",
    "%s %(name)s {0}",
]
#: What a caller's text is wrapped in by accident or on purpose: a pattern check that uses
#: ``$`` (which matches before a final newline) or forgets to strip lets these through.
WRAPPERS = ["", " ", "\n", "\t", "\r\n", "\u00a0", "\u2028", "\x0b", "/", "\\", "../", "\x00"]
#: Both sides of the end of every PostgreSQL integer type, and far beyond.
EDGES = [
    sign * (2**bits) + delta
    for bits in (15, 31, 63, 64)
    for sign in (1, -1)
    for delta in (-1, 0, 1)
] + [10**100, -(10**100)]
bare_texts = st.one_of(
    st.sampled_from(HOSTILE),
    st.builds(lambda: "x" * 100_000),  # built, not listed: a strategy's repr stays short
    st.text(st.characters(exclude_categories=()), max_size=40),
    st.text(max_size=10),
)
texts = st.one_of(
    bare_texts,
    st.tuples(st.sampled_from(WRAPPERS), bare_texts, st.sampled_from(WRAPPERS)).map("".join),
)
integers = st.one_of(st.sampled_from(EDGES), st.integers())
ids = st.one_of(
    st.sampled_from([USER, GUILD, 1, 2, 0, -1, MAX_BIGINT, MAX_BIGINT + 1]),
    integers,
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=5),
)
positions = st.one_of(st.integers(min_value=-3, max_value=5), integers, st.floats(), texts)
json_values = st.recursive(
    st.none() | st.booleans() | integers | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
tracks = st.one_of(
    st.fixed_dictionaries(
        {"source_url": st.one_of(texts, st.just("https://music.example/p")), "title": texts},
        optional={
            "artist": st.one_of(texts, st.none()),
            "duration_seconds": st.one_of(integers, st.floats(), texts),
            "extra": st.dictionaries(texts, json_values, max_size=3),
            "unexpected": texts,
        },
    ),
    json_values,
)
changes = st.dictionaries(
    st.sampled_from(
        [
            "prefix",
            "default_volume",
            "locale",
            "dj_role_id",
            "announce_channel_id",
            "announce_now_playing",
            "max_queue_length",
            "preferred_volume",
            "autoplay",
            "repeat_mode",
            "nonsense",
        ]
    ),
    st.one_of(texts, integers, st.booleans(), st.none(), st.floats()),
    max_size=3,
)

Repos = tuple[PlaylistRepository, GuildSettingsRepository, UserPreferencesRepository]
Call = Callable[[Repos], Awaitable[object]]


def _calls() -> st.SearchStrategy[tuple[str, Call]]:
    """One generated call of every public repository method (named, for the failure report)."""
    return st.one_of(
        st.tuples(ids, texts).map(lambda a: ("ensure_user", lambda r: r[2].ensure_user(*a))),
        st.tuples(ids, texts).map(lambda a: ("ensure_guild", lambda r: r[1].ensure_guild(*a))),
        ids.map(lambda i: ("prefs.get", lambda r: r[2].get(i))),
        st.tuples(ids, changes).map(lambda a: ("prefs.set", lambda r: r[2].set(*a))),
        ids.map(lambda i: ("guild.get", lambda r: r[1].get(i))),
        st.tuples(ids, changes).map(lambda a: ("guild.update", lambda r: r[1].update(*a))),
        st.tuples(ids, texts, ids).map(
            lambda a: ("create", lambda r: r[0].create(a[0], a[1], guild_id=a[2]))
        ),
        st.tuples(ids, texts).map(lambda a: ("rename", lambda r: r[0].rename(*a))),
        ids.map(lambda i: ("delete", lambda r: r[0].delete(i))),
        ids.map(lambda i: ("get", lambda r: r[0].get(i))),
        st.tuples(ids, texts).map(lambda a: ("get_by_name", lambda r: r[0].get_by_name(*a))),
        st.tuples(ids, positions, positions).map(
            lambda a: (
                "list_for_user",
                lambda r: r[0].list_for_user(a[0], limit=a[1], offset=a[2]),
            )
        ),
        ids.map(lambda i: ("count", lambda r: r[0].count(i))),
        st.tuples(ids, tracks, st.one_of(st.none(), positions), st.one_of(st.none(), ids)).map(
            lambda a: (
                "add_track",
                lambda r: r[0].add_track(a[0], a[1], position=a[2], added_by=a[3]),
            )
        ),
        st.tuples(ids, st.lists(tracks, max_size=3), st.one_of(st.none(), ids)).map(
            lambda a: ("add_tracks", lambda r: r[0].add_tracks(a[0], a[1], added_by=a[2]))
        ),
        st.tuples(ids, positions).map(lambda a: ("remove_track", lambda r: r[0].remove_track(*a))),
        st.tuples(ids, positions, positions).map(
            lambda a: ("move_track", lambda r: r[0].move_track(*a))
        ),
    )


@pytest.fixture
async def base_rows(db: Database) -> Database:
    """A user, a guild and a playlist with two tracks, so that calls can also succeed."""
    async with db.session() as session:
        await UserPreferencesRepository(session).ensure_user(USER, "user")
        await GuildSettingsRepository(session).ensure_guild(GUILD, "guild")
        playlists = PlaylistRepository(session)
        playlist = await playlists.create(USER, "mine", guild_id=GUILD)
        await playlists.add_tracks(
            playlist.id,
            [{"source_url": f"https://music.example/{n}", "title": str(n)} for n in (1, 2)],
        )
    return db


async def _succeeds_or_raises_ours_unchanged(
    db: Database, migrated: Settings, name: str, call: Callable[[Session], Any]
) -> None:
    """Run ``call`` in a unit of work: success, or our one-line error and no row changed."""
    before = snapshot(migrated)
    error: BaseException | None = None
    try:
        async with db.session() as session:
            await call(session)
    except RepositoryError as exc:
        error = exc
    except Exception as exc:  # anything else is the bug this test exists to find
        pytest.fail(f"{name} raised {type(exc).__name__}, not a RepositoryError: {exc!r:.300}")
    if error is not None:
        assert "\n" not in str(error), f"{name}: a typed error of more than one line"
        assert snapshot(migrated) == before, f"{name} failed with {error} yet changed rows"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(call=_calls())
async def test_every_repository_call_succeeds_or_raises_ours_and_an_error_changes_nothing(
    base_rows: Database, migrated: Settings, call: tuple[str, Call]
) -> None:
    name, make_call = call

    def repos(session: Session) -> Repos:
        return (
            PlaylistRepository(session),
            GuildSettingsRepository(session),
            UserPreferencesRepository(session),
        )

    await _succeeds_or_raises_ours_unchanged(
        base_rows, migrated, name, lambda s: make_call(repos(s))
    )


MusicRepos = tuple[
    PlaylistRepository, QueueRepository, HistoryRepository, UserPreferencesRepository
]
MusicCall = Callable[[MusicRepos], Awaitable[object]]
scopes = st.one_of(st.sampled_from(["user", "guild", "global", ""]), texts, st.integers())
flags = st.one_of(st.booleans(), st.none(), st.integers(), texts)
queue_states = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "voice_channel_id": ids,
            "text_channel_id": ids,
            "tracks": st.lists(tracks, max_size=3),
            "current_index": positions,
            "position_ms": st.one_of(st.integers(), st.floats()),
            "volume": st.one_of(st.integers(min_value=-5, max_value=250), texts),
            "repeat_mode": st.one_of(st.sampled_from(["off", "track", "queue"]), texts),
            "paused": flags,
            "unexpected": texts,
        },
    ),
    json_values,
)
documents = st.one_of(
    texts,
    json_values,
    st.fixed_dictionaries(
        {
            "format": st.one_of(st.just("bot-persistence.playlist/1"), texts),
            "name": texts,
            "tracks": st.one_of(
                st.lists(
                    st.fixed_dictionaries(
                        {"url": texts, "title": texts},
                        optional={"artist": texts, "duration": positions, "extra": json_values},
                    ),
                    max_size=3,
                ),
                json_values,
            ),
        },
        optional={"exported_at": texts, "surprise": json_values},
    ),
)


def _music_calls() -> st.SearchStrategy[tuple[str, MusicCall]]:
    """One generated call of every repository method this schema evolution added."""
    return st.one_of(
        st.tuples(ids, texts, st.one_of(st.none(), ids), scopes).map(
            lambda a: ("create(scope)", lambda r: r[0].create(*a))
        ),
        st.tuples(ids, positions, positions).map(
            lambda a: (
                "list_for_guild",
                lambda r: r[0].list_for_guild(a[0], limit=a[1], offset=a[2]),
            )
        ),
        st.tuples(ids, ids, flags, st.one_of(st.none(), ids)).map(
            lambda a: ("share", lambda r: r[0].share(a[0], a[1], a[2], by=a[3]))
        ),
        st.tuples(ids, ids, st.one_of(st.none(), ids)).map(
            lambda a: ("unshare", lambda r: r[0].unshare(a[0], a[1], by=a[2]))
        ),
        st.tuples(ids, ids, st.one_of(st.none(), texts)).map(
            lambda a: ("copy", lambda r: r[0].copy(*a))
        ),
        ids.map(lambda i: ("export", lambda r: r[0].export(i))),
        st.tuples(ids, documents, st.one_of(st.none(), texts)).map(
            lambda a: ("import_playlist", lambda r: r[0].import_playlist(*a))
        ),
        st.tuples(ids, tracks, st.one_of(st.none(), ids)).map(
            lambda a: ("add_track(by)", lambda r: r[0].add_track(a[0], a[1], by=a[2]))
        ),
        st.tuples(ids, queue_states).map(lambda a: ("queue.save", lambda r: r[1].save(*a))),
        ids.map(lambda i: ("queue.load", lambda r: r[1].load(i))),
        ids.map(lambda i: ("queue.clear", lambda r: r[1].clear(i))),
        st.tuples(ids, st.one_of(st.none(), ids), tracks).map(
            lambda a: (
                "history.record",
                lambda r: r[2].record(guild_id=a[0], user_id=a[1], track=a[2]),
            )
        ),
        st.tuples(st.one_of(st.none(), ids), st.one_of(st.none(), ids), positions).map(
            lambda a: ("history.recent", lambda r: r[2].recent(*a))
        ),
        st.tuples(ids, positions).map(lambda a: ("most_played", lambda r: r[2].most_played(*a))),
        ids.map(lambda i: ("forget", lambda r: r[3].forget(i))),
    )


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(call=_music_calls())
async def test_every_music_call_succeeds_or_raises_ours_and_an_error_changes_nothing(
    base_rows: Database, migrated: Settings, call: tuple[str, MusicCall]
) -> None:
    name, make_call = call

    def repos(session: Session) -> MusicRepos:
        return (
            PlaylistRepository(session),
            QueueRepository(session),
            HistoryRepository(session),
            UserPreferencesRepository(session),
        )

    await _succeeds_or_raises_ours_unchanged(
        base_rows, migrated, name, lambda s: make_call(repos(s))
    )
