"""What one warm command costs: its process time against Python + one psycopg connect,
and the connections it opens.

The baseline is the least any tool pays to answer "is the database there?":
start Python, import psycopg, connect once. A warm ``bot-db up`` (server
running, database at head and seeded) does that and a little more: read the
settings and ask git which branch is out, then ask its questions over that one
connection (the bar: 2x). Both run as new processes, alternating, so imports
count and load drift is shared. Both keep their bytecode (under the scratch
folder), as an installed tool does: where ``PYTHONDONTWRITEBYTECODE`` is set,
every run would compile each module it imports from source again, and the
ratio would be the compiler's (about 3x here, for 2x with the bytecode kept).
The connections are counted by the server
(``pg_stat_database.sessions``), a line under the table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks._harness import Bench
from bot_persistence.provision.base import free_port

RUNS = 9
PASSWORD = "bench-commands"


def _bot_db(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "bot_persistence", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _sessions(watcher: psycopg.Connection[Any]) -> int:
    row = watcher.execute("SELECT sum(sessions) FROM pg_stat_database").fetchone()
    return int(row[0]) if row else 0


def _opened_by(env: dict[str, str], watcher: psycopg.Connection[Any], *args: str) -> int:
    """The sessions ``bot-db ARGS`` opened, counted once each has ended."""
    before = _sessions(watcher)
    _bot_db(env, *args)
    deadline = time.monotonic() + 10
    while watcher.execute(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
    ).fetchone() != (0,):
        if time.monotonic() > deadline:
            raise TimeoutError(f"bot-db {' '.join(args)} left sessions open")
        time.sleep(0.02)  # the poll interval of a condition bounded by the deadline
    return _sessions(watcher) - before


def run(bench: Bench) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-commands-", dir=Path.cwd()))
    port = free_port()
    env = {
        **os.environ,
        "POSTGRES_PORT": str(port),
        "POSTGRES_PASSWORD": PASSWORD,
        "BOT_DB_DATA_DIR": str(scratch / "devdb"),
        "BOT_DB_BACKEND": "embedded",
        "BOT_DB_BRANCH_DATABASES": "false",
        "DATABASE_URL": "",
        "PYTHONPYCACHEPREFIX": str(scratch / "pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    server = f"postgresql://bot:{PASSWORD}@127.0.0.1:{port}"
    url = f"{server}/bot"
    connect = f"import psycopg; psycopg.connect({url!r}).close()"

    def baseline() -> None:
        subprocess.run([sys.executable, "-c", connect], env=env, check=True)

    try:
        _bot_db(env, "up")
        warm, base = bench.time_pair(
            "bot-db up, warm (a process)",
            lambda: _bot_db(env, "up"),
            "python + import psycopg + one connect (baseline)",
            baseline,
            repeat=RUNS,
            warmup=1,
        )
        version, bare = bench.time_pair(
            "bot-db --version (a process)",
            lambda: _bot_db(env, "--version"),
            "python -c pass (baseline)",
            lambda: subprocess.run([sys.executable, "-c", "pass"], env=env, check=True),
            repeat=RUNS,
        )
        bench.record(base)
        bench.record(warm, baseline=base, bar=2.0)
        bench.record(version, baseline=bare)
        with psycopg.connect(f"{server}/postgres", autocommit=True) as watcher:
            watcher.execute("SELECT pg_stat_force_next_flush()")  # count ourselves now
            counts = {cmd: _opened_by(env, watcher, cmd) for cmd in ("up", "status", "check")}
        bench.note(
            "connections per warm command (pg_stat_database.sessions): "
            + ", ".join(f"{cmd} {count}" for cmd, count in counts.items())
            + " (bar: 1 each)"
        )
    finally:
        _bot_db(env, "down", "--purge", "--yes")
        shutil.rmtree(scratch, ignore_errors=True)
