"""The example discord.py bot, driven without Discord against real PostgreSQL.

Its ``setup_hook`` opens the Database and ``close`` closes it; its playlist
command is called as discord.py would call it, with a stand-in for the message
context (the one part that needs Discord).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import os
import signal
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import pytest

from bot_persistence.project import project_root
from bot_persistence.settings import Settings
from tests.helpers import table_rows

pytest.importorskip(
    "discord",
    reason="discord.py is not installed: `pip install 'bot-persistence[bot]'` "
    "(nox installs it with the test dependency group)",
)

USER = 800000000000000001
GUILD = 800000000000000002


def load_example() -> ModuleType:
    path = project_root() / "examples" / "music_bot.py"
    spec = importlib.util.spec_from_file_location("music_bot_example", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclasses.dataclass
class Named:
    id: int
    name: str


@dataclasses.dataclass
class StandInContext:
    """What the command reads from discord.py's Context: author, guild, send."""

    author: Named
    guild: Named | None
    sent: list[str] = dataclasses.field(default_factory=list)

    async def send(self, text: str) -> None:
        self.sent.append(text)


@pytest.fixture
async def bot(migrated: Settings) -> AsyncIterator[Any]:
    music_bot = load_example()
    instance = music_bot.MusicBot(migrated)
    await instance.setup_hook()
    try:
        yield instance
    finally:
        await instance.close()


async def invoke(bot: Any, ctx: StandInContext, *args: str, title: str | None = None) -> None:
    command = bot.get_command("playlist")
    await command.callback(bot.get_cog("Playlists"), ctx, *args, title=title)


async def test_the_playlist_command_creates_the_playlist_then_appends(
    bot: Any, migrated: Settings
) -> None:
    ctx = StandInContext(Named(USER, "dj"), Named(GUILD, "The Lounge"))
    await invoke(bot, ctx, "road trip", "https://music.example/a", title="Song A")
    await invoke(bot, ctx, "road trip", "https://music.example/songs/b")
    assert ctx.sent == [
        "Added **Song A** to **road trip** at #1 of 1.",
        "Added **b** to **road trip** at #2 of 2.",
    ]
    rows = table_rows(migrated)
    assert [row[:2] for row in rows["users"]] == [(USER, "dj")]
    assert [row[:2] for row in rows["guilds"]] == [(GUILD, "The Lounge")]
    assert [(row[1], row[2], row[3]) for row in rows["playlists"]] == [(USER, GUILD, "road trip")]
    assert len(rows["playlist_tracks"]) == 2


async def test_bad_input_is_answered_and_changes_nothing(bot: Any, migrated: Settings) -> None:
    ctx = StandInContext(Named(USER, "dj"), None)
    before = table_rows(migrated)
    await invoke(bot, ctx, "x" * 150, "https://music.example/a")
    await invoke(bot, ctx, "mix", "https://music.example/\x00")
    assert ctx.sent[0].startswith("Could not add that: playlist name is 150 characters long")
    assert ctx.sent[1].startswith("Could not add that: track: source_url")
    assert table_rows(migrated) == before


async def test_close_closes_the_database(bot: Any) -> None:
    await bot.close()
    assert bot.db.closed and bot.is_closed()


async def test_sigterm_closes_the_bot_and_its_database(bot: Any) -> None:
    # A handler must be installed, or the signal would end the test run itself.
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    os.kill(os.getpid(), signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not (bot.db.closed and bot.is_closed()):
        assert loop.time() < deadline, "SIGTERM did not close the bot within 5 s"
        await asyncio.sleep(0.01)  # wait-ok: polling a condition, bounded by the deadline
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


async def test_queues_are_saved_at_shutdown_and_restored_at_start_up(
    bot: Any, migrated: Settings
) -> None:
    ctx = StandInContext(Named(USER, "dj"), Named(GUILD, "The Lounge"))
    command = bot.get_command("queue")
    for n in range(3):
        await command.callback(bot.get_cog("Queue"), ctx, f"https://music.example/q/{n}")
    bot.queues[GUILD] = bot.queues[GUILD].model_copy(update={"current_index": 1, "volume": 70})
    expected = bot.queues[GUILD]
    assert ctx.sent[-1] == "Queued **2** at #3."
    await bot.close()
    assert len(table_rows(migrated)["queue_tracks"]) == 3

    restarted = load_example().MusicBot(migrated)
    await restarted.setup_hook()
    try:
        assert restarted.queues == {GUILD: expected}
    finally:
        await restarted.close()
