"""Light commands stay light: what ``check``, ``status``, ``url`` and ``--version`` load.

``check``, ``status`` and ``url`` load neither SQLAlchemy nor Alembic, the ORM
or the seed schemas (they talk to the server through psycopg alone);
``--version``, ``help`` and ``completion`` load neither SQLAlchemy nor Alembic.
Each runs in a fresh interpreter (the test process has loaded everything
already), against a port where nothing listens, and reports which of the
heavy modules it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bot_persistence.devdb.lifecycle import COUNTED
from bot_persistence.models import (
    Guild,
    GuildSettings,
    Playlist,
    PlaylistTrack,
    Track,
    User,
    UserPreferences,
)
from bot_persistence.provision.base import free_port

#: Modules a light command must not import.
HEAVY = ("alembic", "bot_persistence.models", "bot_persistence.devdb.seeding", "sqlalchemy")

PROBE = """
import io, json, sys
from bot_persistence import cli
from bot_persistence.settings import Settings
settings = Settings.from_values(
    database_url=sys.argv[1], backend="external", connect_timeout=1, startup_timeout=1
)
code = cli.main(sys.argv[2:], settings=settings, stdout=io.StringIO(), stderr=io.StringIO())
heavy = sorted(name for name in json.loads({heavy!r}) if name in sys.modules)
print(json.dumps({{"code": code, "heavy": heavy}}))
"""


def run_in_fresh_interpreter(*argv: str) -> dict[str, object]:
    url = f"postgresql://bot:secret@127.0.0.1:{free_port()}/bot"
    script = PROBE.format(heavy=json.dumps(HEAVY))
    done = subprocess.run(
        [sys.executable, "-c", script, url, *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("argv", "code"),
    [(["url"], 0), (["check"], 1), (["check", "--json"], 1), (["status"], 1)],
    ids=["url", "check", "check-json", "status"],
)
def test_light_commands_load_no_alembic_orm_or_seeds(argv: list[str], code: int) -> None:
    result = run_in_fresh_interpreter(*argv)
    assert result == {"code": code, "heavy": []}


META_PROBE = """
import io, json, sys
from bot_persistence import cli
code = cli.main(sys.argv[1:], stdout=io.StringIO(), stderr=io.StringIO())
heavy = sorted(name for name in ("sqlalchemy", "alembic") if name in sys.modules)
print(json.dumps({"code": code, "heavy": heavy}))
"""


@pytest.mark.parametrize(
    "argv", [["--version"], ["help"], ["help", "up"], ["completion", "bash"]], ids=" ".join
)
def test_version_help_and_completion_load_neither_sqlalchemy_nor_alembic(argv: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", META_PROBE, *argv],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 0, "heavy": []}


def test_status_counts_exactly_the_model_tables() -> None:
    models = (User, Guild, GuildSettings, UserPreferences, Playlist, Track, PlaylistTrack)
    assert tuple(model.__tablename__ for model in models) == COUNTED


def test_help_does_not_look_up_the_version() -> None:
    # importlib.metadata is for --version alone: the parser no longer asks it at build time.
    probe = META_PROBE.replace('("sqlalchemy", "alembic")', '("importlib.metadata",)')
    done = subprocess.run(
        [sys.executable, "-c", probe, "help"], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"code": 0, "heavy": []}
