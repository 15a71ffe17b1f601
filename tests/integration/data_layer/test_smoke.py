"""`bot-db smoke`: the bot's flows end to end, a line per step, the database left as found."""

from __future__ import annotations

from sqlalchemy import text

from bot_persistence.settings import Settings
from tests.helpers import bot_db, engine_for, seed, table_rows


def test_smoke_passes_every_step_and_leaves_the_database_as_it_was(migrated: Settings) -> None:
    seed(migrated)
    before = table_rows(migrated)
    code, out, err = bot_db(migrated, "smoke")
    assert code == 0, out + err
    for step in (
        "connect",
        "guild settings",
        "user preferences",
        "playlist built",
        "playlist reordered",
        "playlist read back",
        "playlist deleted",
        "queue restored",
        "history recorded",
        "guild playlist shared",
        "exported, imported",
        "forgotten, removed",
        "cleaned up",
    ):
        assert f"✓ {step}" in out
    assert table_rows(migrated) == before
    assert "test-password" not in out + err


def test_smoke_names_the_failing_step_exits_1_and_still_cleans_up(migrated: Settings) -> None:
    # A real failure inside the server: moving entries is refused by a trigger.
    with engine_for(migrated) as engine, engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'moves are refused today'; END $$"
            )
        )
        conn.execute(
            text(
                "CREATE TRIGGER refuse_moves BEFORE UPDATE OF position ON playlist_tracks "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        )
    before = table_rows(migrated)
    code, out, _ = bot_db(migrated, "smoke")
    assert code == 1
    assert "✓ playlist built" in out
    assert "✗ playlist reordered:" in out and "moves are refused today" in out
    assert "✓ playlist read back" not in out
    assert "✓ cleaned up" in out
    assert table_rows(migrated) == before


def test_smoke_on_an_unmigrated_database_fails_at_connect_saying_to_migrate(
    settings: Settings,
) -> None:
    code, out, _ = bot_db(settings, "smoke")
    assert code == 1
    assert "✗ connect:" in out and "bot-db migrate" in out
