"""One shard's worth of the bot's repository calls: the load behind the pooler tests and bench.

A shard process of the bot serves many events at once, each a short unit of
work; this module makes the same shape of load: ``concurrency`` tasks sharing
one :class:`~bot_persistence.db.Database`, each call its own unit of work,
mixing reads and writes over users, guilds and playlists. It reports every
call's latency and every failure's first line, so a caller can demand zero
errors (tests) or compute calls per second and p99 (``benchmarks/``).

Run as ``python -m bot_persistence.devdb.shard_load --shard N --calls 500``:
settings come from the environment, one JSON object goes to standard output.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

from bot_persistence.db import Database
from bot_persistence.repositories import (
    GuildSettingsRepository,
    PlaylistRepository,
    TrackInput,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings

__all__ = ["LoadResult", "main", "run_load"]

_BASE_ID = 700_000_000_000_000_000


@dataclasses.dataclass
class LoadResult:
    """What one shard's calls did: how many, which failed, how long each took."""

    shard: int
    calls: int
    elapsed: float
    latencies_ms: list[float]
    errors: list[str]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready, for the process boundary."""
        return dataclasses.asdict(self)


async def run_load(
    settings: Settings,
    *,
    shard: int,
    calls: int,
    concurrency: int = 8,
    ready: Callable[[], Awaitable[object]] | None = None,
) -> LoadResult:
    """Make ``calls`` mixed repository calls from ``concurrency`` tasks; never raises for one.

    ``ready`` is awaited once connected and set up, just before the clock starts:
    a caller running several shards starts them all together there.
    """
    user_id = _BASE_ID + shard * 1_000 + 1
    guild_id = _BASE_ID + shard * 1_000 + 2
    async with Database.connect(settings) as db:
        async with db.session() as session:
            await UserPreferencesRepository(session).ensure_user(user_id, f"shard-{shard}")
            await GuildSettingsRepository(session).ensure_guild(guild_id, f"guild-{shard}")
            playlist = await PlaylistRepository(session).create(
                user_id, f"shard-{shard}-{time.time_ns()}", guild_id=guild_id
            )

        def call(number: int) -> Callable[[], Awaitable[object]]:
            async def unit() -> None:
                async with db.session() as session:
                    kind = number % 6
                    if kind == 0:
                        await UserPreferencesRepository(session).get(user_id)
                    elif kind == 1:
                        await UserPreferencesRepository(session).set(
                            user_id, {"preferred_volume": number % 200}
                        )
                    elif kind == 2:
                        await GuildSettingsRepository(session).get(guild_id)
                    elif kind == 3:
                        await GuildSettingsRepository(session).update(
                            guild_id, {"default_volume": number % 200}
                        )
                    elif kind == 4:
                        await PlaylistRepository(session).add_track(
                            playlist.id,
                            TrackInput(
                                source_url=f"https://load.example/{shard}/{number}",
                                title=f"track {number}",
                            ),
                        )
                    else:
                        await PlaylistRepository(session).get(playlist.id)

            return unit

        numbers = itertools.count()
        latencies: list[float] = []
        errors: list[str] = []

        async def worker() -> None:
            while (number := next(numbers)) < calls:
                started = time.perf_counter()
                try:
                    await call(number)()
                except Exception as exc:  # counted, not raised: the caller judges the run
                    text = str(exc).strip().splitlines()
                    errors.append(f"{type(exc).__name__}: {text[0] if text else ''}")
                latencies.append((time.perf_counter() - started) * 1000)

        if ready is not None:
            await ready()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return LoadResult(shard, calls, elapsed, latencies, errors)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one shard's load with settings from the environment; print the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shard", type=int, required=True)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--wait",
        action="store_true",
        help="once connected, print 'ready' and start on a line from standard input",
    )
    args = parser.parse_args(argv)

    async def ready() -> None:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)

    result = asyncio.run(
        run_load(
            Settings(),
            shard=args.shard,
            calls=args.calls,
            concurrency=args.concurrency,
            ready=ready if args.wait else None,
        )
    )
    print(json.dumps(result.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
