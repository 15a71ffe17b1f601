"""Shared fixtures and helpers; the database fixtures come from our pytest plugin.

The plugin (``bot_persistence.testing``) gives the run a throw-away server on
tmpfs with durability off, and each test that asks for ``settings`` a database
of its own, created empty and dropped after, so tests never see each other's rows.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from bot_persistence.models import Base
from bot_persistence.settings import Settings
from bot_persistence.testing import TestDatabase

pytest_plugins = ["pytester"]

PASSWORD = "test-password-\N{SNOWMAN}"


def wait_until(condition: Callable[[], object], *, timeout: float, what: str) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` when ``timeout`` runs out.

    The one polling loop of the test suite: every wait on the outside world goes
    through here, so none of them can become a bare sleep.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not so within {timeout:g} s"
        time.sleep(0.02)  # wait-ok: the poll interval of a condition bounded by the deadline


def scratch_root() -> Path:
    """tmpfs where the OS has one: a throw-away cluster is ready twice as fast there."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() else Path(tempfile.gettempdir())


def make_settings(port: int, database: str, **overrides: object) -> Settings:
    """Settings for a test: nothing read from the environment or a .env file."""
    values: dict[str, object] = {
        "postgres_host": "127.0.0.1",
        "postgres_port": port,
        "postgres_db": database,
        "postgres_user": "bot",
        "postgres_password": PASSWORD,
        "backend": "external",
        "connect_timeout": 2,
        "startup_timeout": 10,
        # One database whatever branch the checkout is on; the branch tests opt in.
        "branch_databases": False,
    }
    values.update(overrides)
    return Settings.from_values(**values)


@pytest.fixture
def settings(db_factory: Callable[..., TestDatabase]) -> Settings:
    """Settings naming a fresh, empty database of this test's own on the run's server.

    The server and the clean-up come from the project's pytest plugin
    (``bot_persistence.testing``); the database is dropped after the test.
    """
    return db_factory("empty").settings


def table_rows(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the models, ids included, in a stable order.

    Comparing two of these proves a call changed nothing (or exactly what it should).
    """
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {
                table.name: [
                    tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key))
                ]
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()
