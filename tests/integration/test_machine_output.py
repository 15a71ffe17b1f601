"""Output a machine reads is only what it reads: SQL for ``--sql -``, one document for ``--json``.

Alembic prints its own progress ("Generating ... done") and its post-write
hook runs ruff, which writes to the process's standard output directly; a
plan's ✓ lines are for people. None of these may reach the stream a pipe
reads. Run as real processes, so writes to file descriptor 1 are seen too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bot_persistence import migrations
from bot_persistence.project import project_root
from bot_persistence.provision.binaries import embedded_bin_dir
from bot_persistence.settings import Settings
from tests.helpers import bot_db


def environment(settings: Settings) -> dict[str, str]:
    """The process environment naming ``settings``' database, nothing from this machine's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("POSTGRES_", "BOT_DB_", "PG")) and name != "DATABASE_URL"
    }
    env.update(
        POSTGRES_HOST=settings.host,
        POSTGRES_PORT=str(settings.port),
        POSTGRES_DB=settings.database,
        POSTGRES_USER=settings.user,
        POSTGRES_PASSWORD=settings.password,
        BOT_DB_BACKEND="external",
        BOT_DB_BRANCH_DATABASES="false",
    )
    return env


def test_revision_json_prints_nothing_but_the_document(settings: Settings, tmp_path: Path) -> None:
    root = project_root()
    shutil.copy(root / "alembic.ini", tmp_path / "alembic.ini")
    shutil.copytree(
        root / "alembic", tmp_path / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    migrations.upgrade(settings)
    done = subprocess.run(
        [sys.executable, "-m", "bot_persistence", "revision", "-m", "nothing new", "--json"],
        cwd=tmp_path,
        env=environment(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)  # the whole of standard output is the one document
    assert Path(document["path"]).name.endswith("nothing_new.py")
    assert Path(document["path"]).is_file()


def test_deploy_sql_to_stdout_is_only_sql_that_runs(settings: Settings) -> None:
    production = settings.model_copy(update={"environment": "production"})
    code, out, err = bot_db(production, "deploy", "--sql", "-")
    assert code == 0, err
    assert "✓" not in out and "plan" not in out.split("\n", 1)[0]
    assert "plan      " in err  # the plan is still shown, where people read it
    psql = shutil.which("psql") or str(embedded_bin_dir() / "psql")
    ran = subprocess.run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", settings.plain_url, "-f", "-"],
        input=out,  # standard output as it is, piped into psql
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    assert migrations.current_revision(settings) == migrations.head_revision(settings)
