"""Guild settings and user preferences: defaults without a row, validated partial updates."""

from __future__ import annotations

from sqlalchemy import text

from bot_persistence.db import Database
from bot_persistence.models import RepeatMode
from bot_persistence.repositories import (
    GuildConfig,
    GuildSettingsRepository,
    GuildSettingsUpdate,
    Preferences,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings
from tests.helpers import engine_for, table_rows

GUILD = 500000000000000001
USER = 500000000000000002


async def test_a_guild_without_a_row_gets_the_defaults_and_no_row_is_written(
    db: Database, migrated: Settings
) -> None:
    async with db.session() as session:
        config = await GuildSettingsRepository(session).get(GUILD)
    assert config == GuildConfig(guild_id=GUILD)
    assert not config.stored and config.prefix == "!" and config.default_volume == 50
    assert table_rows(migrated)["guild_settings"] == []


async def test_the_defaults_in_code_match_the_tables_server_defaults(
    db: Database, migrated: Settings
) -> None:
    with engine_for(migrated) as engine, engine.begin() as conn:
        ids = {"guild": GUILD, "user": USER}
        conn.execute(text("INSERT INTO guilds (id, name) VALUES (:guild, 'g')"), ids)
        conn.execute(text("INSERT INTO guild_settings (guild_id) VALUES (:guild)"), ids)
        conn.execute(text("INSERT INTO users (id, username) VALUES (:user, 'u')"), ids)
        conn.execute(text("INSERT INTO user_preferences (user_id) VALUES (:user)"), ids)
    async with db.session() as session:
        stored_guild = await GuildSettingsRepository(session).get(GUILD)
        stored_user = await UserPreferencesRepository(session).get(USER)
    assert stored_guild.stored and stored_user.stored
    assert stored_guild.model_dump(exclude={"stored"}) == GuildConfig(guild_id=GUILD).model_dump(
        exclude={"stored"}
    )
    assert stored_user.model_dump(exclude={"stored"}) == Preferences(user_id=USER).model_dump(
        exclude={"stored"}
    )


async def test_a_partial_update_changes_only_the_fields_given(db: Database) -> None:
    async with db.session() as session:
        repo = GuildSettingsRepository(session)
        await repo.ensure_guild(GUILD, "The Lounge")
        first = await repo.update(GUILD, {"default_volume": 80, "locale": "de"})
        second = await repo.update(
            GUILD, GuildSettingsUpdate(prefix="?", dj_role_id=GUILD + 1, announce_now_playing=False)
        )
    assert first.stored and (first.default_volume, first.locale, first.prefix) == (80, "de", "!")
    assert (second.default_volume, second.locale, second.prefix) == (80, "de", "?")
    async with db.session() as session:
        read = await GuildSettingsRepository(session).get(GUILD)
        cleared = await GuildSettingsRepository(session).update(GUILD, {"dj_role_id": None})
    assert read == second
    assert cleared.dj_role_id is None and cleared.prefix == "?"


async def test_an_empty_update_returns_the_current_settings(db: Database) -> None:
    async with db.session() as session:
        config = await GuildSettingsRepository(session).update(GUILD, {})
    assert config == GuildConfig(guild_id=GUILD)


async def test_a_renamed_guild_or_user_is_recorded_once_with_the_new_name(
    db: Database, migrated: Settings
) -> None:
    async with db.session() as session:
        await GuildSettingsRepository(session).ensure_guild(GUILD, "old")
        await UserPreferencesRepository(session).ensure_user(USER, "old")
    async with db.session() as session:
        await GuildSettingsRepository(session).ensure_guild(GUILD, "new")
        await UserPreferencesRepository(session).ensure_user(USER, "new")
    rows = table_rows(migrated)
    assert [row[:2] for row in rows["guilds"]] == [(GUILD, "new")]
    assert [row[:2] for row in rows["users"]] == [(USER, "new")]


async def test_preferences_default_then_set_and_read_back(db: Database) -> None:
    async with db.session() as session:
        repo = UserPreferencesRepository(session)
        assert await repo.get(USER) == Preferences(user_id=USER)
        await repo.ensure_user(USER, "listener")
        changed = await repo.set(USER, {"repeat_mode": "track", "preferred_volume": 120})
        again = await repo.set(USER, {"autoplay": True})
    assert changed.repeat_mode is RepeatMode.TRACK and changed.preferred_volume == 120
    assert (again.repeat_mode, again.preferred_volume, again.autoplay) == (
        RepeatMode.TRACK,
        120,
        True,
    )
    async with db.session() as session:
        assert await UserPreferencesRepository(session).get(USER) == again
