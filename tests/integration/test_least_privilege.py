"""Least privilege: the bot runs as a DML-only role, migrations run as the owner.

BOT_DB_MIGRATION_URL names the owner (as Prisma's directUrl); DATABASE_URL the
runtime role, granted what ``runtime_grants`` lists and nothing more.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from bot_persistence import migrations
from bot_persistence.connection import connected_engine
from bot_persistence.db import Database
from bot_persistence.errors import InsufficientPrivilegeError
from bot_persistence.migrations.grants import apply_grants, runtime_grants
from bot_persistence.project import versions_dir
from bot_persistence.repositories import PlaylistRepository, UserPreferencesRepository
from bot_persistence.schema_version import heads_in
from bot_persistence.settings import Settings

USER = 700000000000000077


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Settings]:
    """Settings of a fresh login role with no grants, migrating through the owner's URL."""
    role = f"bot_app_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    with psycopg.connect(settings.plain_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        yield settings.model_copy(
            update={
                "postgres_user": role,
                "postgres_password": SecretStr(password),
                "migration_url": SecretStr(settings.plain_url),
                "migrate_on_startup": True,
            }
        )
    finally:
        with psycopg.connect(settings.plain_url, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


def grant(owner: Settings, role: str) -> None:
    statements = runtime_grants(role, database=owner.database, owner=owner.user)
    with connected_engine(owner) as engine, engine.connect() as conn:
        apply_grants(conn, statements)


async def test_the_bot_runs_as_a_dml_only_role_and_migrates_through_the_owner(
    settings: Settings, runtime: Settings
) -> None:
    async def add_user(db: Database) -> None:
        async with db.session() as session:
            await UserPreferencesRepository(session).ensure_user(USER, "least")

    # Start-up migrates as the owner; the runtime role, without its grants yet,
    # is told which one it lacks.
    async with Database.connect(runtime) as db:
        assert migrations.current_revision(settings) == heads_in(versions_dir())[0]
        with pytest.raises(InsufficientPrivilegeError, match="GRANT INSERT ON ALL TABLES"):
            await add_user(db)

    grant(settings, runtime.user)
    grant(settings, runtime.user)  # again: idempotent
    async with Database.connect(runtime) as db:
        await add_user(db)
        async with db.session() as session:
            playlists = PlaylistRepository(session)
            playlist = await playlists.create(USER, "privileges")
            await playlists.add_track(playlist.id, {"source_url": "https://x.test/a", "title": "a"})
        for forbidden, needed in [
            ("CREATE TABLE sneaky (id int)", "BOT_DB_MIGRATION_URL"),
            ("UPDATE alembic_version SET version_num = version_num", "GRANT UPDATE"),
            ("DROP TABLE tracks", "BOT_DB_MIGRATION_URL"),
        ]:
            with pytest.raises(InsufficientPrivilegeError, match=needed):
                async with db.session() as session:
                    await session.execute(text(forbidden))

    # A table a later migration creates (as the owner) is usable at once.
    with psycopg.connect(settings.plain_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE later (id bigserial PRIMARY KEY, note text)")
    async with Database.connect(runtime) as db, db.session() as session:
        await session.execute(text("INSERT INTO later (note) VALUES ('granted by default')"))


async def test_a_dml_only_role_migrating_itself_is_told_to_use_the_owners_url(
    runtime: Settings,
) -> None:
    alone = runtime.model_copy(update={"migration_url": None})
    with pytest.raises(InsufficientPrivilegeError, match="BOT_DB_MIGRATION_URL") as caught:
        await Database.connect(alone)
    assert "fix the migration" not in str(caught.value)


def test_bot_db_grants_prints_then_applies_as_the_owner(
    settings: Settings, runtime: Settings
) -> None:
    from tests.helpers import bot_db

    migrations.upgrade(settings)
    owner = settings.model_copy(update={"migration_url": SecretStr(settings.plain_url)})
    code, out, err = bot_db(owner, "grants", runtime.user)
    assert code == 0, err
    rows = 'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "public"'
    assert f'{rows} TO "{runtime.user}";' in out
    production = owner.model_copy(update={"environment": "production"})
    code, out, err = bot_db(production, "grants", runtime.user, "--apply", "--yes")
    assert code == 2 and "--force" in err  # guarded
    code, out, err = bot_db(owner, "grants", runtime.user, "--apply", "--yes")
    assert code == 0, err
    with psycopg.connect(runtime.plain_url) as conn:
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


def test_a_snapshot_of_a_production_database_needs_force(settings: Settings) -> None:
    from tests.helpers import bot_db

    production = settings.model_copy(update={"environment": "production"})
    code, _, err = bot_db(production, "snapshot", "save", "before-deploy", "--yes")
    assert code == 2 and "--force" in err
