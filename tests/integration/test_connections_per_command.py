"""How many connections a command opens, counted by the server (``pg_stat_database.sessions``).

Every step of a command asks the command's one ``Target`` for its connection,
so a warm ``up`` (server running, database at head, seeded) asks whether the
database is there, at head, empty and healthy over one session; ``status`` and
``check`` too. A branch seen for the first time needs the maintenance
database's as well, to copy its parent's database: two.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from bot_persistence.settings import Settings
from tests.helpers import bot_db, wait_until
from tests.integration.test_branch_databases import git, repo, server

__all__ = ["repo", "server"]  # the fixtures, shared with the branch database tests


def _watcher(settings: Settings) -> psycopg.Connection[Any]:
    conn = psycopg.connect(
        host=settings.host,
        port=settings.port,
        user=settings.user,
        password=settings.password,
        dbname="postgres",
        autocommit=True,
    )
    # Our own session is counted once, now, not in the middle of a measurement.
    conn.execute("SELECT pg_stat_force_next_flush()")
    return conn


def _sessions(watcher: psycopg.Connection[Any]) -> int:
    row = watcher.execute("SELECT sum(sessions) FROM pg_stat_database").fetchone()
    return int(row[0]) if row else 0


def _others(watcher: psycopg.Connection[Any]) -> int:
    row = watcher.execute(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
    ).fetchone()
    return int(row[0]) if row else 0


def opened_by(settings: Settings, watcher: psycopg.Connection[Any], *argv: str) -> int:
    """Run ``bot-db ARGV``; the sessions it opened, once each has ended (and been counted)."""
    before = _sessions(watcher)
    code, out, err = bot_db(settings, *argv)
    assert code == 0, out + err
    # A backend reports its session to the statistics as it exits: wait for that.
    wait_until(lambda: _others(watcher) == 0, timeout=10, what="the command's sessions to end")
    return _sessions(watcher) - before


def test_warm_commands_open_one_connection_and_a_new_branch_two(
    server: Settings, repo: Path
) -> None:
    assert bot_db(server, "up")[0] == 0  # the server, the default branch's database
    with _watcher(server) as watcher:
        git(repo, "checkout", "-q", "-b", "feature/counted")
        assert opened_by(server, watcher, "up") <= 2  # the copy, then the branch's own
        assert opened_by(server, watcher, "up") == 1
        assert opened_by(server, watcher, "status") == 1
        assert opened_by(server, watcher, "check") == 1


WARM_UP = """
import io, json, sys
from bot_persistence import cli
from bot_persistence.settings import Settings
settings = Settings.from_values(**json.loads(sys.argv[1]))
code = cli.main(["up"], settings=settings, stdout=io.StringIO(), stderr=io.StringIO())
heavy = sorted(name for name in json.loads(sys.argv[2]) if name in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}))
"""

#: What a warm ``up`` must not import: the ORM and migrations (the database is
#: at head), filelock (a server already running as configured needs no lock),
#: and on Linux psutil (the pid file and ``/proc`` say the server runs).
WARM_UP_SKIPS = (
    "sqlalchemy",
    "alembic",
    "filelock",
    *(("psutil",) if sys.platform == "linux" else ()),
)


def test_a_warm_up_loads_no_orm_migrations_lock_or_psutil(server: Settings, repo: Path) -> None:
    assert bot_db(server, "up")[0] == 0  # migrated and seeded: the next one is warm
    values = server.model_dump(mode="json", exclude={"database_url"})
    values["postgres_password"] = server.password
    done = subprocess.run(
        [sys.executable, "-c", WARM_UP, json.dumps(values), json.dumps(WARM_UP_SKIPS)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=repo,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 0, "heavy": []}
