"""Shared fixtures: a throw-away embedded PostgreSQL for the integration tests.

The server lives on tmpfs when the OS has one, with durability off: nothing in
it is worth keeping. Each test that needs a database gets its own, created
empty and dropped after, so tests never see each other's rows.
"""

from __future__ import annotations

import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from bot_persistence.provision.embedded import EmbeddedCluster
from bot_persistence.settings import Settings

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


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[EmbeddedCluster]:
    """One embedded server for the whole run."""
    root = Path(tempfile.mkdtemp(prefix="bp-test-", dir=scratch_root()))
    cluster = EmbeddedCluster(root, port=free_port(), user="bot", password=PASSWORD, durable=False)
    cluster.ensure_initialized()
    cluster.start(timeout=30)
    try:
        yield cluster
    finally:
        cluster.purge()


@pytest.fixture
def settings(pg_cluster: EmbeddedCluster, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings naming a fresh, empty database of this test's own on the shared server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    test_settings = make_settings(pg_cluster.port, name)
    admin = create_engine(
        test_settings.url.set(database="postgres"),
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)).as_string())
    try:
        yield test_settings
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                .format(sql.Identifier(name))
                .as_string()
            )
        admin.dispose()
