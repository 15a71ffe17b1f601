"""A bot that crashes with its Database still open exits, so a supervisor restarts it.

``asyncio.run`` cancels every task once when the main coroutine raises and
waits for them all; psycopg_pool's workers used to swallow that cancellation
in a connect and try again forever, so the process lived on with no bot in it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from bot_persistence.settings import Settings

CRASHING_BOT = """
import asyncio, sys, time
from bot_persistence import Database, Settings

async def main() -> None:
    db = await Database.connect(Settings())  # no `async with`, no close()
    async with db.session() as session:
        pass
    print(time.time(), flush=True)
    raise RuntimeError("the bot crashed on purpose")

asyncio.run(main())
"""


def test_a_bot_whose_main_coroutine_raises_with_its_database_open_exits(
    migrated: Settings, tmp_path: Path
) -> None:
    script = tmp_path / "bot.py"
    script.write_text(CRASHING_BOT, encoding="utf-8")
    env = {
        **os.environ,
        "DATABASE_URL": migrated.plain_url,
        # Connections still being opened when it crashes: the case that never exited.
        "BOT_DB_POOL_SIZE": "8",
    }
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,  # no .env of the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    ended = time.time()
    assert result.returncode == 1, result.stderr
    assert "RuntimeError: the bot crashed on purpose" in result.stderr
    crashed = float(result.stdout.split()[0])
    assert ended - crashed < 5, f"exited {ended - crashed:.1f} s after the crash"
