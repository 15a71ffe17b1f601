"""The wheel, installed in a fresh virtual environment, works from an empty directory.

The checkout is nowhere in sight of the installed package: ``bot-db`` and the
bot's ``Database.connect`` must find the migrations and seeds inside the
package. Building needs ``uv`` (offline from its cache where it can be, as on a
machine without an index); without it the module skips on a laptop and fails
with ``CI`` set.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot_persistence.project import checkout_root
from bot_persistence.schema_version import heads_in
from bot_persistence.settings import Settings
from bot_persistence.testing import TestDatabase


def _uv_or_skip() -> str:
    found = shutil.which("uv")
    if found is None:
        reason = "the wheel test needs uv to build and install the wheel (pip install uv)"
        if os.environ.get("CI"):
            pytest.fail(reason + " (required: CI is set)")
        pytest.skip(reason)
    return found


def _uv(uv: str, *args: str) -> None:
    """Run uv offline first (its cache serves a machine without an index), then online."""
    offline = subprocess.run([uv, *args, "--offline"], capture_output=True, text=True, check=False)
    if offline.returncode == 0:
        return
    online = subprocess.run([uv, *args], capture_output=True, text=True, check=False)
    assert online.returncode == 0, f"uv {' '.join(args)}:\n{offline.stderr}\n{online.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding only the wheel and its dependencies."""
    uv = _uv_or_skip()
    base = tmp_path_factory.mktemp("wheel")
    _uv(uv, "build", "--wheel", "-o", str(base / "dist"), str(checkout_root()))
    (wheel,) = (base / "dist").glob("bot_persistence-*.whl")
    venv = base / "venv"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    _uv(uv, "venv", "-q", "-p", python, str(venv))
    # With the `binary` extra (psycopg's own libpq), as docs/production.md installs it.
    requirement = f"bot-persistence[binary] @ {wheel.resolve().as_uri()}"
    _uv(uv, "pip", "install", "-q", "-p", str(venv / "bin" / "python"), requirement)
    return venv


def _env(venv: Path, settings: Settings, **extra: str) -> dict[str, str]:
    """Only what a user in production would set: the URL and our settings."""
    return {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(venv.parent),
        "DATABASE_URL": settings.url.render_as_string(hide_password=False),
        "BOT_DB_BACKEND": "external",
        **extra,
    }


def _run(
    venv: Path, workdir: Path, settings: Settings, *argv: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=workdir,
        env=_env(venv, settings, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _revision(settings: Settings) -> str:
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()


_CONNECT = """
import asyncio, bot_persistence
from bot_persistence import Database, Settings

async def main() -> None:
    async with Database.connect(Settings()) as db:
        await db.ping()
    print("connected", bot_persistence.__file__)

asyncio.run(main())
"""

HEAD = heads_in(checkout_root() / "alembic" / "versions")[0]


def test_bot_db_works_from_the_wheel_in_an_empty_directory(
    installed: Path, tmp_path: Path, db_factory: Callable[..., TestDatabase]
) -> None:
    empty = db_factory("empty").settings
    workdir = tmp_path / "empty"
    workdir.mkdir()

    up = _run(installed, workdir, empty, "bot-db", "up")
    assert up.returncode == 0, up.stderr
    assert f"-> {HEAD}" in up.stdout and "seed " in up.stdout
    for argv, expected in (
        (("bot-db", "status"), HEAD),
        (("bot-db", "migrate"), f"already at {HEAD}"),
        (("bot-db", "check"), f"at head {HEAD}"),
    ):
        done = _run(installed, workdir, empty, *argv)
        assert done.returncode == 0, (argv, done.stderr)
        assert expected in done.stdout, (argv, done.stdout)

    connected = _run(installed, workdir, empty, str(installed / "bin" / "python"), "-c", _CONNECT)
    assert connected.returncode == 0, connected.stderr
    assert str(installed) in connected.stdout, "bot_persistence came from outside the wheel"
    assert list(workdir.iterdir()) == [], "running from the wheel wrote into the directory"


def test_the_bot_migrates_on_start_up_from_the_wheel(
    installed: Path, tmp_path: Path, db_factory: Callable[..., TestDatabase]
) -> None:
    empty = db_factory("empty").settings
    connected = _run(
        installed,
        tmp_path,
        empty,
        str(installed / "bin" / "python"),
        "-c",
        _CONNECT,
        BOT_DB_MIGRATE_ON_STARTUP="true",
    )
    assert connected.returncode == 0, connected.stderr
    assert _revision(empty) == HEAD


def test_a_wheel_without_its_migrations_says_so_in_one_line(
    installed: Path, tmp_path: Path, db_factory: Callable[..., TestDatabase]
) -> None:
    empty = db_factory("empty").settings
    (data,) = installed.glob("lib/python*/site-packages/bot_persistence/_data")
    hidden = data.with_name("_data.hidden")
    data.rename(hidden)
    try:
        done = _run(installed, tmp_path, empty, "bot-db", "migrate")
    finally:
        hidden.rename(data)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "the wheel was built without them" in done.stderr
    engine = create_engine(empty.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            present = conn.execute(text("SELECT to_regclass('alembic_version')")).scalar()
    finally:
        engine.dispose()
    assert present is None, "a broken build wrote to the database"
