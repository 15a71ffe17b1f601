"""Shared fixtures and helpers; the database fixtures come from our pytest plugin.

The plugin (``bot_persistence.testing``) gives the run a throw-away server on
tmpfs with durability off, and each test that asks for ``settings`` a database
of its own, created empty and dropped after, so tests never see each other's rows.
"""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bot_persistence.settings import Settings
from bot_persistence.testing import TestDatabase

pytest_plugins = ["pytester"]

PASSWORD = "test-password-\N{SNOWMAN}"


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
