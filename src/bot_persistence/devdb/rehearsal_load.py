"""The bot's load during a rehearsal: the shard load's mix over the generated data, until stopped.

The same six calls as :mod:`bot_persistence.devdb.shard_load` (a preference
read and write, a guild settings read and write, ``add_track`` and a playlist
read), made through the bot's own :class:`~bot_persistence.db.Database` and
repositories by several coroutines, each call its own unit of work. The ids
are drawn from the rows ``bot-db seed --scale`` generated (playlists
uniformly, so most are small and a few are large, as in a real bot), so the
calls touch the tables a migration locks or rewrites.

It runs on an event loop of its own in a background thread while the
rehearsal migrates in the main one, and records every call: when it started,
how long it took, what it was, and the first line of any error.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time
from collections.abc import Awaitable, Callable

from bot_persistence.db import Database
from bot_persistence.devdb.scale_seed import ID_BASE, OWNERS_PER_SCALE
from bot_persistence.repositories import (
    GuildSettingsRepository,
    PlaylistRepository,
    TrackInput,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings

__all__ = ["CALLS", "BotLoad", "Call"]

#: The calls of the mix, in the order the shard load makes them.
CALLS = (
    "preferences.get",
    "preferences.set",
    "guild_settings.get",
    "guild_settings.update",
    "playlists.add_track",
    "playlists.get",
)


@dataclasses.dataclass(frozen=True)
class Call:
    """One repository call: when it started (seconds on the rehearsal's clock), for how long."""

    kind: str
    started: float
    ms: float
    error: str | None = None


class _RunningBot(Database):
    """The bot as it runs when a deploy starts: connected long ago, probe passed then.

    During a deploy the database is behind the code's head until the last
    revision lands, which the start-up probe of a *new* process refuses; the
    bot the rehearsal plays was started before, so it only opens its pool.
    """

    async def start(self) -> None:
        await self._pool.open()


class BotLoad:
    """``concurrency`` coroutines making the mix's calls until :meth:`stop`.

    ``clock`` is the rehearsal's clock (``time.perf_counter`` shifted to its
    start), so calls and revision windows share one time axis.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        scale: int,
        clock: Callable[[], float],
        concurrency: int = 8,
        seed: int = 0,
    ) -> None:
        self.settings = settings
        self.owners = scale * OWNERS_PER_SCALE
        self.clock = clock
        self.concurrency = concurrency
        self.seed = seed
        self.calls: list[Call] = []
        self.started = threading.Event()
        self.failed: BaseException | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bot-db-rehearsal-load", daemon=True)

    def start(self, timeout: float = 30.0) -> None:
        """Start the coroutines; return once the first call has finished (or raise why not)."""
        self._thread.start()
        if not self.started.wait(timeout) or self.failed is not None:
            self.stop()
            if self.failed is not None:
                raise self.failed
            raise TimeoutError(f"the bot's load made no call within {timeout:g} s")

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the coroutines to finish their current call, and wait for them."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the caller through start()
            self.failed = exc
            self.started.set()

    def _unit(
        self, db: Database, rng: random.Random, number: int
    ) -> tuple[str, Callable[[], Awaitable[object]]]:
        kind = CALLS[number % len(CALLS)]
        user = ID_BASE["users"] + rng.randrange(self.owners)
        guild = ID_BASE["guilds"] + rng.randrange(self.owners)
        playlist = ID_BASE["playlists"] + rng.randrange(self.owners)

        async def unit() -> object:
            async with db.session() as session:
                if kind == "preferences.get":
                    return await UserPreferencesRepository(session).get(user)
                if kind == "preferences.set":
                    return await UserPreferencesRepository(session).set(
                        user, {"preferred_volume": number % 200}
                    )
                if kind == "guild_settings.get":
                    return await GuildSettingsRepository(session).get(guild)
                if kind == "guild_settings.update":
                    return await GuildSettingsRepository(session).update(
                        guild, {"default_volume": number % 200}
                    )
                if kind == "playlists.add_track":
                    return await PlaylistRepository(session).add_track(
                        playlist,
                        TrackInput(
                            source_url=f"https://rehearsal.example/{self.seed}/{number}",
                            title=f"rehearsal track {number}",
                        ),
                    )
                return await PlaylistRepository(session).get(playlist)

        return kind, unit

    async def _main(self) -> None:
        async with _RunningBot.connect(self.settings) as db:
            counter = iter(range(1 << 62))

            async def worker(index: int) -> None:
                rng = random.Random(f"load-{self.seed}-{index}")  # noqa: S311 - not secrets
                while not self._stopping.is_set():
                    number = next(counter)
                    kind, unit = self._unit(db, rng, number)
                    started = time.perf_counter()
                    error = None
                    try:
                        await unit()
                    except Exception as exc:  # counted, not raised: the rehearsal judges it
                        text = str(exc).strip().splitlines()
                        error = f"{type(exc).__name__}: {text[0] if text else ''}"
                    ended = time.perf_counter()
                    self.calls.append(
                        Call(
                            kind, self.clock() - (ended - started), (ended - started) * 1000, error
                        )
                    )
                    self.started.set()

            await asyncio.gather(*(worker(i) for i in range(self.concurrency)))
