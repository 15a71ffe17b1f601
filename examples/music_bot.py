"""A discord.py bot wired to bot-persistence: the smallest complete example.

The bot opens :class:`bot_persistence.Database` in ``setup_hook`` (before it
connects to Discord, so a database problem stops it with one clear line) and
closes it in ``close`` (after the gateway, so commands in flight can finish).
SIGTERM, as sent by systemd, Docker or Kubernetes, closes it the same way.

Its player queues survive a restart: ``close`` saves each guild's queue (the
tracks, the one playing and how far into it, volume, repeat, pause) before the
database closes, and ``setup_hook`` restores them (a real bot hands them to its
audio player, Lavalink or voice client, and resumes).

Run it::

    pip install 'bot-persistence[bot]'
    bot-db up
    DISCORD_TOKEN=... python examples/music_bot.py

Then, in a channel the bot can read: ``!playlist road-trip https://... Song title``,
or ``!queue https://... Song title``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

import discord
from discord.ext import commands

from bot_persistence import (
    Database,
    QueueRepository,
    QueueState,
    RepositoryError,
    Settings,
)
from bot_persistence.errors import BotPersistenceError, DatabaseUnavailableError, NotFoundError
from bot_persistence.repositories import (
    GuildSettingsRepository,
    PlaylistRepository,
    TrackInput,
    UserPreferencesRepository,
)

log = logging.getLogger("music_bot")


class MusicBot(commands.Bot):
    """The bot: owns the Database for its whole life."""

    def __init__(self, settings: Settings) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # prefix commands read message text
        super().__init__(command_prefix="!", intents=intents)
        self.settings = settings
        self._db: Database | None = None
        self._closing: asyncio.Task[None] | None = None
        #: Each guild's player queue (what an audio player would be playing).
        self.queues: dict[int, QueueState] = {}

    @property
    def db(self) -> Database:
        """The open database; set up in ``setup_hook``."""
        if self._db is None:
            raise RuntimeError("the database is opened in setup_hook; start the bot first")
        return self._db

    async def setup_hook(self) -> None:
        # Probes the database (server up, password right, schema at head) or raises
        # an error whose message says what to do; the bot then never logs in.
        self._db = await Database.connect(self.settings)
        await self.restore_queues()
        await self.add_cog(Playlists(self))
        await self.add_cog(Queue(self))
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._on_sigterm)

    def _on_sigterm(self) -> None:
        log.info("SIGTERM: shutting down")
        self._closing = asyncio.get_running_loop().create_task(self.close())

    async def restore_queues(self) -> None:
        """Load every saved queue into the player, as it was when the bot last stopped."""
        async with self.db.session() as session:
            queues = QueueRepository(session)
            for guild_id in await queues.saved_guilds():
                state = await queues.load(guild_id)
                if state is not None:
                    self.queues[guild_id] = state
        log.info("restored %d saved queue(s)", len(self.queues))

    async def save_queues(self) -> None:
        """Save each guild's queue, one unit of work per guild: one failure loses one queue."""
        for guild_id, state in self.queues.items():
            try:
                async with self.db.session() as session:
                    await QueueRepository(session).save(guild_id, state)
            except BotPersistenceError:
                log.exception("could not save the queue of guild %d", guild_id)

    async def close(self) -> None:
        # Discord first (no new commands), then the queues, then the database.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
        await super().close()
        if self._db is not None:
            if not self._db.closed:
                await self.save_queues()
            await self._db.close()


class Playlists(commands.Cog):
    """``!playlist NAME URL [TITLE]``: add a track to your playlist NAME."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    @commands.command(name="playlist")
    async def playlist(
        self, ctx: commands.Context[MusicBot], name: str, url: str, *, title: str | None = None
    ) -> None:
        """Add a track to your playlist NAME, creating the playlist on first use."""
        try:
            # One unit of work: all of it is committed, or (on an error) none of it.
            async with self.bot.db.session() as session:
                await UserPreferencesRepository(session).ensure_user(ctx.author.id, ctx.author.name)
                guild_id = None
                if ctx.guild is not None:
                    await GuildSettingsRepository(session).ensure_guild(
                        ctx.guild.id, ctx.guild.name
                    )
                    guild_id = ctx.guild.id
                playlists = PlaylistRepository(session)
                try:
                    playlist = await playlists.get_by_name(ctx.author.id, name)
                except NotFoundError:
                    playlist = await playlists.create(ctx.author.id, name, guild_id=guild_id)
                entry = await playlists.add_track(
                    playlist.id,
                    {"source_url": url, "title": title or url.rsplit("/", 1)[-1] or url},
                    added_by=ctx.author.id,
                )
                total = await playlists.count(playlist.id)
        except RepositoryError as exc:  # the user's input was wrong: say why
            await ctx.send(f"Could not add that: {exc}")
            return
        except DatabaseUnavailableError:  # ours, not the user's: log it, apologise
            log.exception("!playlist failed")
            await ctx.send("The playlist store is unavailable right now; try again in a minute.")
            return
        await ctx.send(
            f"Added **{entry.track.title}** to **{playlist.name}** "
            f"at #{entry.position + 1} of {total}."
        )


class Queue(commands.Cog):
    """``!queue URL [TITLE]``: queue a track in this guild's player."""

    def __init__(self, bot: MusicBot) -> None:
        self.bot = bot

    @commands.command(name="queue")
    async def queue(
        self, ctx: commands.Context[MusicBot], url: str, *, title: str | None = None
    ) -> None:
        """Add a track to the guild's queue (kept in memory, saved when the bot stops)."""
        if ctx.guild is None:
            await ctx.send("Queues belong to a server; use this in one.")
            return
        try:
            track = TrackInput(source_url=url, title=title or url.rsplit("/", 1)[-1] or url)
            # The guild must be recorded for its queue to be saved at shutdown.
            async with self.bot.db.session() as session:
                await GuildSettingsRepository(session).ensure_guild(ctx.guild.id, ctx.guild.name)
        except (ValueError, RepositoryError) as exc:
            await ctx.send(f"Could not queue that: {exc}")
            return
        current = self.bot.queues.get(ctx.guild.id, QueueState())
        state = current.model_copy(update={"tracks": [*current.tracks, track]})
        self.bot.queues[ctx.guild.id] = state
        await ctx.send(f"Queued **{track.title}** at #{len(state.tracks)}.")


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    bot = MusicBot(Settings())
    bot.run(os.environ["DISCORD_TOKEN"], log_handler=None)


if __name__ == "__main__":
    main()
