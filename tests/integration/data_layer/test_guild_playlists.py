"""Guild playlists, sharing, edit permissions, copy, export and import."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot_persistence.db import Database
from bot_persistence.errors import (
    AlreadyExistsError,
    ImportTooLargeError,
    InvalidInputError,
    MalformedImportError,
    NotFoundError,
    PermissionDeniedError,
)
from bot_persistence.models import PlaylistScope
from bot_persistence.repositories import (
    EXPORT_FORMAT,
    GuildSettingsRepository,
    PlaylistRepository,
    TrackInput,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings
from tests.helpers import table_rows

GUILD, OTHER_GUILD = 330000000000000001, 330000000000000002
OWNER, FRIEND, STRANGER = 330000000000000011, 330000000000000012, 330000000000000013


@pytest.fixture
async def known(db: Database) -> Database:
    async with db.session() as session:
        for guild_id in (GUILD, OTHER_GUILD):
            await GuildSettingsRepository(session).ensure_guild(guild_id, "guild")
        for user_id in (OWNER, FRIEND, STRANGER):
            await UserPreferencesRepository(session).ensure_user(user_id, f"u{user_id % 100}")
    return db


async def playlist(db: Database, name: str = "mix", *, scope: str = "user", tracks: int = 2) -> int:
    async with db.session() as session:
        repo = PlaylistRepository(session)
        created = await repo.create(OWNER, name, guild_id=GUILD, scope=scope)
        await repo.add_tracks(
            created.id,
            [
                TrackInput(source_url=f"https://music.example/g/{name}/{n}", title=f"{name} {n}")
                for n in range(tracks)
            ],
        )
    return created.id


async def test_guild_playlist_names_are_unique_per_guild_and_apart_from_users_own(
    known: Database,
) -> None:
    async with known.session() as session:
        repo = PlaylistRepository(session)
        guilds = await repo.create(OWNER, "party", GUILD, "guild")
        own = await repo.create(OWNER, "party")  # the same name, the owner's own: fine
        elsewhere = await repo.create(OWNER, "party", guild_id=OTHER_GUILD, scope="guild")
        listed = await repo.list_for_guild(GUILD)
    assert guilds.scope is PlaylistScope.GUILD and own.scope is PlaylistScope.USER
    assert [(p.id, p.scope) for p in listed] == [(guilds.id, PlaylistScope.GUILD)]
    assert elsewhere.guild_id == OTHER_GUILD
    with pytest.raises(AlreadyExistsError, match=f"guild {GUILD} already has"):
        async with known.session() as session:
            await PlaylistRepository(session).create(FRIEND, "party", GUILD, "guild")


@pytest.mark.parametrize(
    ("guild_id", "scope"), [(None, "guild"), (GUILD, "global"), (GUILD, 3)], ids=str
)
async def test_a_guild_playlist_needs_its_guild_and_a_known_scope(
    known: Database, guild_id: int | None, scope: object
) -> None:
    with pytest.raises(InvalidInputError):
        async with known.session() as session:
            await PlaylistRepository(session).create(OWNER, "x", guild_id, scope)  # type: ignore[arg-type]


async def test_edits_need_ownership_or_an_edit_share(known: Database, migrated: Settings) -> None:
    pid = await playlist(known)
    new = TrackInput(source_url="https://music.example/g/new", title="new")
    before = table_rows(migrated)
    for call in (
        lambda r: r.add_track(pid, new, by=FRIEND),
        lambda r: r.rename(pid, "mine now", by=FRIEND),
        lambda r: r.remove_track(pid, 0, by=FRIEND),
        lambda r: r.move_track(pid, 0, 1, by=FRIEND),
        lambda r: r.delete(pid, by=FRIEND),
        lambda r: r.share(pid, STRANGER, by=FRIEND),
    ):
        with pytest.raises(PermissionDeniedError, match=f"user {FRIEND} may not"):
            async with known.session() as session:
                await call(PlaylistRepository(session))  # type: ignore[no-untyped-call]
    assert table_rows(migrated) == before

    async with known.session() as session:
        repo = PlaylistRepository(session)
        await repo.share(pid, FRIEND, can_edit=True, by=OWNER)
        entry = await repo.add_track(pid, new, by=FRIEND)
        await repo.rename(pid, "ours", by=FRIEND)
    assert entry.added_by == FRIEND
    with pytest.raises(PermissionDeniedError):  # editing is not owning
        async with known.session() as session:
            await PlaylistRepository(session).delete(pid, by=FRIEND)


async def test_share_unshare_and_who_a_playlist_is_shared_with(known: Database) -> None:
    pid = await playlist(known, scope="guild")
    async with known.session() as session:
        repo = PlaylistRepository(session)
        await repo.share(pid, FRIEND)
        await repo.share(pid, STRANGER, can_edit=True)
        await repo.share(pid, FRIEND, can_edit=True)  # again: changes can_edit
        shares = await repo.shares(pid)
        with_friend = await repo.list_shared_with(FRIEND)
    assert [(s.user_id, s.can_edit) for s in shares] == [(FRIEND, True), (STRANGER, True)]
    assert [p.id for p in with_friend] == [pid]
    async with known.session() as session:
        repo = PlaylistRepository(session)
        assert await repo.unshare(pid, FRIEND, by=FRIEND) is True  # leaving a share
        assert await repo.unshare(pid, FRIEND) is False
        with pytest.raises(PermissionDeniedError):
            await repo.unshare(pid, STRANGER, by=FRIEND)


@pytest.mark.parametrize(
    ("user_id", "error"),
    [(OWNER, InvalidInputError), (330000000000000099, NotFoundError)],
    ids=["the-owner", "unknown-user"],
)
async def test_sharing_with_the_owner_or_an_unknown_user_is_refused(
    known: Database, user_id: int, error: type[Exception]
) -> None:
    pid = await playlist(known)
    with pytest.raises(error):
        async with known.session() as session:
            await PlaylistRepository(session).share(pid, user_id)


async def test_a_share_and_an_unshare_racing_end_in_one_state_or_the_other(
    known: Database,
) -> None:
    pid = await playlist(known)
    for _ in range(10):

        async def share() -> None:
            async with known.session() as session:
                await PlaylistRepository(session).share(pid, FRIEND, can_edit=True)

        async def unshare() -> None:
            async with known.session() as session:
                await PlaylistRepository(session).unshare(pid, FRIEND)

        await asyncio.gather(share(), unshare(), share(), unshare())
        async with known.session() as session:
            shares = await PlaylistRepository(session).shares(pid)
        assert [(s.user_id, s.can_edit) for s in shares] in ([], [(FRIEND, True)])


async def test_copy_makes_the_new_owners_own_playlist_with_the_same_tracks(
    known: Database,
) -> None:
    pid = await playlist(known, tracks=5)
    with pytest.raises(PermissionDeniedError, match="not shared with them"):
        async with known.session() as session:
            await PlaylistRepository(session).copy(pid, FRIEND)
    async with known.session() as session:
        repo = PlaylistRepository(session)
        await repo.share(pid, FRIEND)
        copied = await repo.copy(pid, FRIEND, name="my mix")
        original, duplicate = await repo.get(pid), await repo.get(copied.id)
    assert (copied.owner_id, copied.scope, copied.track_count) == (FRIEND, PlaylistScope.USER, 5)
    assert duplicate.tracks == original.tracks
    assert duplicate.name == "my mix"


async def test_export_then_import_gives_the_same_tracks(known: Database) -> None:
    pid = await playlist(known, tracks=4)
    async with known.session() as session:
        repo = PlaylistRepository(session)
        document = await repo.export(pid)
        imported = await repo.import_playlist(FRIEND, json.dumps(document))
        again = await repo.import_playlist(FRIEND, document, name="copy 2")
        original, new = await repo.get(pid), await repo.get(imported.id)
    assert document["format"] == EXPORT_FORMAT == "bot-persistence.playlist/1"
    assert set(document["tracks"][0]) == {"url", "title", "artist", "duration", "extra"}
    assert (imported.owner_id, imported.name, imported.track_count) == (FRIEND, "mix", 4)
    assert again.name == "copy 2"
    assert new.tracks == original.tracks


def _document(**changes: object) -> dict[str, object]:
    track = {"url": "https://music.example/i/1", "title": "one", "artist": None, "duration": 3}
    return {"format": EXPORT_FORMAT, "name": "imported", "tracks": [track], **changes}


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ("{not json", MalformedImportError),
        ("[1, 2]", MalformedImportError),
        (_document(format="bot-persistence.playlist/2"), MalformedImportError),
        (_document(format=None), MalformedImportError),
        (_document(tracks="many"), MalformedImportError),
        (_document(tracks=[{"url": "https://x.example/1"}]), MalformedImportError),
        (_document(tracks=[{"url": "x", "title": "t", "bpm": 120}]), MalformedImportError),
        (_document(tracks=[{"url": "x", "title": "t", "duration": "3:00"}]), MalformedImportError),
        (_document(name=""), MalformedImportError),
        (_document(owner=1), MalformedImportError),
        (
            _document(tracks=[{"url": "https://x.example/n", "title": "t"}] * 11),
            ImportTooLargeError,
        ),
        ("x" * (8 * 1024 * 1024 + 1), ImportTooLargeError),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "unknown-format",
        "no-format",
        "tracks-not-a-list",
        "track-without-title",
        "unknown-track-field",
        "duration-as-text",
        "empty-name",
        "unknown-field",
        "too-many-tracks",
        "too-many-bytes",
    ],
)
async def test_a_bad_import_is_refused_before_anything_is_written(
    known: Database, migrated: Settings, document: object, error: type[Exception]
) -> None:
    before = table_rows(migrated)
    with pytest.raises(error):
        async with known.session() as session:
            await PlaylistRepository(session, max_tracks=10).import_playlist(OWNER, document)  # type: ignore[arg-type]
    assert table_rows(migrated) == before


async def test_creates_keep_working_once_the_statement_is_prepared(known: Database) -> None:
    # psycopg prepares a statement after five runs on a connection, and the server
    # then plans it generically: ON CONFLICT must still find the partial unique index.
    async with known.session() as session:
        repo = PlaylistRepository(session)
        for n in range(15):
            await repo.create(OWNER, f"mine {n}")
            await repo.create(OWNER, f"ours {n}", GUILD, "guild")
        with pytest.raises(AlreadyExistsError):
            await repo.create(OWNER, "mine 0")
    async with known.session() as session:
        repo = PlaylistRepository(session)
        for n in range(15):
            await repo.create(FRIEND, f"theirs {n}", GUILD, "guild")
        with pytest.raises(AlreadyExistsError):
            await repo.create(FRIEND, "ours 0", GUILD, "guild")
