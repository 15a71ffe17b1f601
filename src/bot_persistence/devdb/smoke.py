"""``bot-db smoke``: the bot's own flows, end to end, against the configured database.

It opens :class:`~bot_persistence.db.Database` as the bot does, then works as
two made-up users in a made-up guild (ids no real Discord account has, picked so
that they are not in the database yet): guild settings, preferences, and a
playlist built, reordered, read back and deleted; a queue saved and restored,
plays recorded, a guild playlist shared and edited by the other user, exported
and imported; then both users forgotten and the guild removed, as deletion
requests would. Each step is its own unit of work, committed as the bot's would
be. Whatever happens, the last step deletes every row the run made (forgetting
the users and removing the guild again, which changes nothing when the flows
got that far, and the tracks under URLs of its own), so the database is left
as it was found.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from sqlalchemy import delete, exists, select

from bot_persistence.db import Database
from bot_persistence.errors import BotPersistenceError, NotFoundError, SmokeFailedError
from bot_persistence.models import Guild, RepeatMode, Track, User
from bot_persistence.repositories import (
    GuildSettingsRepository,
    HistoryRepository,
    PlaylistRepository,
    QueueRepository,
    QueueState,
    TrackInput,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings

__all__ = ["STEPS", "run"]

#: The steps in order, as they are printed.
STEPS = (
    "connect",
    "guild settings",
    "user preferences",
    "playlist built",
    "playlist reordered",
    "playlist read back",
    "playlist deleted",
    "queue restored",
    "history recorded",
    "guild playlist shared",
    "exported, imported",
    "forgotten, removed",
    "cleaned up",
)

# Real snowflakes stay below 2**62 until about 2049; ids above it are ours alone.
_FIRST_ID = 2**62
_IMPORTED = 50
_QUEUED = 100


@dataclass(frozen=True)
class _Identity:
    user_id: int
    guild_id: int
    url_prefix: str

    @property
    def friend_id(self) -> int:
        """The second user, who is shared a playlist (checked free with the first)."""
        return self.user_id + 1

    def url(self, n: int) -> str:
        return f"{self.url_prefix}{n}"


def _expect(step: str, what: str, expected: object, actual: object) -> None:
    if expected != actual:
        raise SmokeFailedError(step, f"{what}: expected {expected!r}, read back {actual!r}")


@contextlib.asynccontextmanager
async def _step(name: str, progress: Callable[[str], None], detail: str) -> AsyncIterator[None]:
    """Run a step; any failure becomes SmokeFailedError naming it; success prints a line."""
    try:
        yield
    except SmokeFailedError:
        raise
    except BotPersistenceError as exc:
        raise SmokeFailedError(name, str(exc), exit_code=exc.exit_code) from exc
    except Exception as exc:
        raise SmokeFailedError(name, f"unexpected {type(exc).__name__}: {exc}") from exc
    progress(f"{name:<19} {detail}")


async def _new_identity(db: Database) -> _Identity:
    """Ids and a URL prefix that nothing in the database uses yet."""
    async with db.session() as session:
        for _ in range(10):
            user_id = _FIRST_ID + secrets.randbelow(2**62 - 2)
            guild_id = _FIRST_ID + secrets.randbelow(2**62 - 1)
            taken = await session.scalar(
                select(
                    exists().where(User.id.in_([user_id, user_id + 1]))
                    | exists().where(Guild.id == guild_id)
                )
            )
            if not taken:
                token = secrets.token_hex(8)
                return _Identity(
                    user_id, guild_id, f"https://smoke.bot-persistence.invalid/{token}/"
                )
    raise SmokeFailedError("connect", "found no free ids for the smoke user and guild")


async def _flows(db: Database, who: _Identity, progress: Callable[[str], None]) -> None:
    step = "guild settings"
    async with _step(step, progress, "defaults, update, read back"):
        async with db.session() as session:
            guilds = GuildSettingsRepository(session)
            await guilds.ensure_guild(who.guild_id, "bot-db smoke")
            defaults = await guilds.get(who.guild_id)
            _expect(step, "a new guild's settings are stored", False, defaults.stored)
            await guilds.update(who.guild_id, {"default_volume": 75, "locale": "de"})
        async with db.session() as session:
            config = await GuildSettingsRepository(session).get(who.guild_id)
        _expect(step, "volume and locale", (75, "de"), (config.default_volume, config.locale))
        _expect(step, "prefix (unchanged)", defaults.prefix, config.prefix)

    step = "user preferences"
    async with _step(step, progress, "defaults, set, read back"):
        async with db.session() as session:
            users = UserPreferencesRepository(session)
            await users.ensure_user(who.user_id, "bot-db-smoke")
            _expect(
                step,
                "a new user's preferences are stored",
                False,
                (await users.get(who.user_id)).stored,
            )
            await users.set(who.user_id, {"repeat_mode": "queue", "autoplay": True})
        async with db.session() as session:
            prefs = await UserPreferencesRepository(session).get(who.user_id)
        _expect(
            step,
            "repeat and autoplay",
            (RepeatMode.QUEUE, True),
            (prefs.repeat_mode, prefs.autoplay),
        )

    step = "playlist built"
    async with _step(step, progress, f"created, 2 tracks added, {_IMPORTED} imported"):
        async with db.session() as session:
            playlists = PlaylistRepository(session)
            playlist = await playlists.create(who.user_id, "bot-db smoke", guild_id=who.guild_id)
            await playlists.add_track(playlist.id, TrackInput(source_url=who.url(0), title="zero"))
            await playlists.add_track(playlist.id, TrackInput(source_url=who.url(1), title="one"))
        async with db.session() as session:
            await PlaylistRepository(session).add_tracks(
                playlist.id,
                [
                    TrackInput(source_url=who.url(n), title=f"track {n}")
                    for n in range(2, 2 + _IMPORTED)
                ],
                added_by=who.user_id,
            )
            count = await PlaylistRepository(session).count(playlist.id)
        _expect(step, "track count", 2 + _IMPORTED, count)

    step = "playlist reordered"
    async with _step(step, progress, "moved, removed, inserted"):
        async with db.session() as session:
            playlists = PlaylistRepository(session)
            await playlists.move_track(playlist.id, 2 + _IMPORTED - 1, 0)
            removed = await playlists.remove_track(playlist.id, 1)
            await playlists.add_track(
                playlist.id, TrackInput(source_url=who.url(-1), title="inserted"), position=1
            )
        _expect(step, "removed track", who.url(0), removed.source_url)

    step = "playlist read back"
    async with _step(step, progress, "tracks in the expected order"):
        async with db.session() as session:
            playlists = PlaylistRepository(session)
            detail = await playlists.get(playlist.id)
            listed = await playlists.list_for_user(who.user_id)
        expected = [
            who.url(2 + _IMPORTED - 1),
            who.url(-1),
            who.url(1),
            *(who.url(n) for n in range(2, 2 + _IMPORTED - 1)),
        ]
        _expect(step, "track order", expected, [t.source_url for t in detail.tracks])
        _expect(step, "positions", list(range(len(expected))), [e.position for e in detail.entries])
        _expect(
            step,
            "the user's playlists",
            [(playlist.id, len(expected))],
            [(p.id, p.track_count) for p in listed],
        )

    step = "playlist deleted"
    async with _step(step, progress, "gone"):
        async with db.session() as session:
            await PlaylistRepository(session).delete(playlist.id)
        try:
            async with db.session() as session:
                await PlaylistRepository(session).get(playlist.id)
        except NotFoundError:
            pass
        else:
            raise SmokeFailedError(step, f"playlist {playlist.id} can still be read after delete")


async def _music_flows(db: Database, who: _Identity, progress: Callable[[str], None]) -> None:
    """The flows of a music bot's own data: queue, history, sharing, transfer, deletion."""
    step = "queue restored"
    async with _step(step, progress, f"{_QUEUED} tracks saved, loaded back whole"):
        state = QueueState(
            voice_channel_id=who.guild_id,
            tracks=[
                TrackInput(source_url=who.url(1000 + n), title=f"q{n}") for n in range(_QUEUED)
            ],
            current_index=_QUEUED - 1,
            position_ms=61_000,
            volume=80,
            repeat_mode="queue",
        )
        async with db.session() as session:
            await QueueRepository(session).save(who.guild_id, state)
        async with db.session() as session:
            loaded = await QueueRepository(session).load(who.guild_id)
        _expect(step, "the queue read back", state, loaded)

    step = "history recorded"
    async with _step(step, progress, "3 plays, newest first, counted"):
        for n in (0, 1, 1):
            async with db.session() as session:
                await HistoryRepository(session).record(
                    guild_id=who.guild_id,
                    user_id=who.user_id,
                    track=TrackInput(source_url=who.url(2000 + n), title=f"h{n}"),
                )
        async with db.session() as session:
            history = HistoryRepository(session)
            recent = await history.recent(guild_id=who.guild_id)
            top = await history.most_played(who.guild_id, limit=1)
        _expect(step, "recent plays", ["h1", "h1", "h0"], [e.track.title for e in recent])
        _expect(step, "most played", [("h1", 2)], [(t.track.title, t.play_count) for t in top])

    step = "guild playlist shared"
    async with _step(step, progress, "shared to edit, edited by the other user"):
        async with db.session() as session:
            await UserPreferencesRepository(session).ensure_user(who.friend_id, "bot-db-smoke-2")
            playlists = PlaylistRepository(session)
            shared = await playlists.create(who.user_id, "bot-db smoke", who.guild_id, "guild")
            await playlists.add_track(shared.id, {"source_url": who.url(3000), "title": "s0"})
            await playlists.share(shared.id, who.friend_id, can_edit=True, by=who.user_id)
        async with db.session() as session:
            playlists = PlaylistRepository(session)
            await playlists.add_track(
                shared.id, {"source_url": who.url(3001), "title": "s1"}, by=who.friend_id
            )
            listed = await playlists.list_for_guild(who.guild_id)
        _expect(
            step, "the guild's playlists", [(shared.id, 2)], [(p.id, p.track_count) for p in listed]
        )

    step = "exported, imported"
    async with _step(step, progress, "bot-persistence.playlist/1, same tracks"):
        async with db.session() as session:
            playlists = PlaylistRepository(session)
            document = await playlists.export(shared.id)
            copy = await playlists.import_playlist(who.friend_id, document, name="imported")
            tracks = [t.source_url for t in (await playlists.get(copy.id)).tracks]
        _expect(step, "imported tracks", [who.url(3000), who.url(3001)], tracks)

    step = "forgotten, removed"
    async with _step(step, progress, "both users forgotten, the guild removed"):
        async with db.session() as session:
            for user_id in (who.friend_id, who.user_id):
                await UserPreferencesRepository(session).forget(user_id)
            await GuildSettingsRepository(session).remove(who.guild_id)
        async with db.session() as session:
            _expect(step, "saved queue", None, await QueueRepository(session).load(who.guild_id))
            left = await session.scalar(
                select(
                    exists().where(User.id.in_([who.user_id, who.friend_id]))
                    | exists().where(Guild.id == who.guild_id)
                )
            )
        _expect(step, "rows of the users or the guild left", False, bool(left))


async def _clean_up(db: Database, who: _Identity) -> bool:
    """Delete every row this run made; True when some are still there."""
    smoke_tracks = Track.source_url.startswith(who.url_prefix, autoescape=True)
    async with db.session() as session:
        # What the deletion requests delete, whatever step the run stopped at.
        for user_id in (who.user_id, who.friend_id):
            await UserPreferencesRepository(session).forget(user_id)
        await GuildSettingsRepository(session).remove(who.guild_id)
        await session.execute(delete(Track).where(smoke_tracks))
    async with db.session() as session:
        left = await session.scalar(
            select(
                exists().where(User.id.in_([who.user_id, who.friend_id]))
                | exists().where(Guild.id == who.guild_id)
                | exists().where(smoke_tracks)
            )
        )
    return bool(left)


async def run(settings: Settings, *, progress: Callable[[str], None]) -> None:
    """Run every step, printing one line each through ``progress``.

    Raises SmokeFailedError naming the first step that failed (after cleaning up).
    """
    async with _step("connect", progress, f"{settings.masked_url}, schema at head"):
        db = await Database.connect(settings)
        try:
            who = await _new_identity(db)
        except BaseException:
            await db.close()
            raise
    try:
        failure: SmokeFailedError | None = None
        try:
            await _flows(db, who, progress)
            await _music_flows(db, who, progress)
        except SmokeFailedError as exc:
            failure = exc
        try:
            async with _step("cleaned up", progress, "no rows of this run are left"):
                if await _clean_up(db, who):
                    raise SmokeFailedError("cleaned up", "rows of this run are still there")
        except SmokeFailedError as cleanup:
            if failure is None:
                raise
            raise SmokeFailedError(
                failure.step, f"{failure.detail} (and cleaning up failed: {cleanup.detail})"
            ) from failure
        if failure is not None:
            raise failure
    finally:
        await db.close()
