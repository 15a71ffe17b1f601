"""Fixtures for the bot's data layer: a migrated database per test, and an open Database.

Migrating costs more than copying: the schema is migrated once per run into a
template database, and each test gets ``CREATE DATABASE ... TEMPLATE`` of it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from psycopg import sql
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.pool import NullPool

from bot_persistence import migrations
from bot_persistence.db import Database
from bot_persistence.provision.embedded import EmbeddedCluster
from bot_persistence.settings import Settings
from tests.conftest import make_settings

TABLES = (
    "users",
    "guilds",
    "guild_settings",
    "user_preferences",
    "playlists",
    "tracks",
    "playlist_tracks",
)


def _admin(settings: Settings) -> Engine:
    return create_engine(
        settings.url.set(database="postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )


@pytest.fixture(scope="session")
def migrated_template(pg_cluster: EmbeddedCluster) -> Iterator[str]:
    """A database migrated to head once per run, copied by each test that needs one."""
    name = f"tmpl_{uuid.uuid4().hex[:12]}"
    settings = make_settings(pg_cluster.port, name)
    admin = _admin(settings)
    with admin.connect() as conn:
        conn.exec_driver_sql(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)).as_string())
    migrations.upgrade(settings)
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                .format(sql.Identifier(name))
                .as_string()
            )
        admin.dispose()


@pytest.fixture
def migrated(pg_cluster: EmbeddedCluster, migrated_template: str) -> Iterator[Settings]:
    """Settings naming a fresh database at head, of this test's own."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    settings = make_settings(pg_cluster.port, name, pool_size=10, max_overflow=5)
    admin = _admin(settings)
    with admin.connect() as conn:
        conn.exec_driver_sql(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}")
            .format(sql.Identifier(name), sql.Identifier(migrated_template))
            .as_string()
        )
    try:
        yield settings
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                .format(sql.Identifier(name))
                .as_string()
            )
        admin.dispose()


@pytest.fixture
async def db(migrated: Settings) -> AsyncIterator[Database]:
    """An open Database on a fresh migrated database; closed after the test."""
    async with Database.connect(migrated) as database:
        yield database


class StatementCounter:
    """Counts the statements an engine sends, through SQLAlchemy's cursor event."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, *args: object) -> None:
        self.statements.append(str(args[2]))

    def reset(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def statements(db: Database) -> Iterator[StatementCounter]:
    """Every statement ``db`` sends from now on (pings of the pool included)."""
    counter = StatementCounter()
    event.listen(db.engine.sync_engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", counter)


def snapshot(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order: to prove a call changed nothing."""
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return {
                table: [
                    tuple(row)
                    for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))  # noqa: S608
                ]
                for table in TABLES
            }
    finally:
        engine.dispose()
