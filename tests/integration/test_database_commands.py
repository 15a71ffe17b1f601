"""The commands that work on a database, against a real server: migrate, seed, reset, ..."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from bot_persistence import migrations
from bot_persistence.project import project_root
from bot_persistence.settings import Settings
from tests.helpers import bot_db, engine_for, seed, table_rows


def strip_times(
    snapshot: dict[str, list[tuple[object, ...]]],
) -> dict[str, list[tuple[object, ...]]]:
    import datetime as dt

    return {
        table: [tuple(v for v in row if not isinstance(v, dt.datetime)) for row in table_rows]
        for table, table_rows in snapshot.items()
    }


def test_migrate_then_check_is_healthy(settings: Settings) -> None:
    code, out, _ = bot_db(settings, "migrate")
    assert code == 0 and "migrated base ->" in out
    code, out, _ = bot_db(settings, "migrate")
    assert code == 0 and "already at" in out
    code, out, _ = bot_db(settings, "check")
    assert code == 0 and "at head" in out


def test_check_on_an_unmigrated_database_says_to_migrate(settings: Settings) -> None:
    code, out, _ = bot_db(settings, "check")
    assert code == 1
    assert "bot-db migrate" in out


def test_check_json_is_machine_readable(settings: Settings) -> None:
    import json

    code, out, _ = bot_db(settings, "check", "--json")
    report = json.loads(out)
    assert code == 1
    assert report["reachable"] and report["authenticated"] and report["database_present"]
    assert report["at_head"] is False
    assert report["error_type"] == "SchemaNotAtHeadError"


def test_check_on_a_missing_database_says_how_to_create_it(settings: Settings) -> None:
    missing = settings.model_copy(update={"postgres_db": "no_such_db"})
    code, out, _ = bot_db(missing, "check")
    assert code == 1
    assert "'no_such_db' does not exist" in out and "bot-db up" in out


def test_seeding_twice_leaves_the_same_rows(settings: Settings) -> None:
    migrations.upgrade(settings)
    assert bot_db(settings, "seed")[0] == 0
    first = table_rows(settings)
    assert bot_db(settings, "seed")[0] == 0
    assert strip_times(table_rows(settings)) == strip_times(first)
    assert len(first["users"]) == 4
    assert len(first["playlist_tracks"]) == 10  # playlists of 3, 4, 1 and 2 tracks


def test_seeding_restores_a_seeded_playlist_order_in_place(settings: Settings) -> None:
    migrations.upgrade(settings)
    seed(settings)
    with engine_for(settings) as engine, engine.begin() as conn:
        conn.execute(text("DELETE FROM playlist_tracks WHERE position = 0"))
        conn.execute(text("UPDATE playlist_tracks SET position = position + 10"))
    seed(settings)
    with engine_for(settings) as engine, engine.connect() as conn:
        titles = (
            conn.execute(
                text(
                    "SELECT t.title FROM playlist_tracks pt JOIN tracks t ON t.id = pt.track_id "
                    "JOIN playlists p ON p.id = pt.playlist_id WHERE p.name = 'Study Beats' "
                    "ORDER BY pt.position"
                )
            )
            .scalars()
            .all()
        )
    assert titles == ["Rainy Window", "Paper Cranes", "City Lights", "Tea at Four"]


def test_seeding_an_unmigrated_database_fails_cleanly(settings: Settings) -> None:
    code, _, err = bot_db(settings, "seed")
    assert code == 1
    assert "nothing was changed" in err and "bot-db migrate" in err


def test_reset_drops_local_changes_and_reseeds(settings: Settings) -> None:
    migrations.upgrade(settings)
    seed(settings)
    with engine_for(settings) as engine, engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, username) VALUES (7, 'temporary')"))
    code, out, _ = bot_db(settings, "reset", "--yes")
    assert code == 0 and "reset" in out
    snapshot = table_rows(settings)
    assert len(snapshot["users"]) == 4
    assert all(row[0] != 7 for row in snapshot["users"])


def test_downgrade_to_base_and_back(settings: Settings) -> None:
    migrations.upgrade(settings)
    code, out, _ = bot_db(settings, "downgrade", "base", "--yes")
    assert code == 0 and "-> base" in out
    with engine_for(settings) as engine, engine.connect() as conn:
        leftovers = conn.execute(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relname NOT LIKE 'alembic_version%'"
            )
        ).scalar()
        enums = conn.execute(
            text("SELECT count(*) FROM pg_type WHERE typname = 'repeat_mode'")
        ).scalar()
    assert (leftovers, enums) == (0, 0)
    assert bot_db(settings, "migrate")[0] == 0


def test_migrate_to_an_unknown_revision_is_one_line(settings: Settings) -> None:
    code, _, err = bot_db(settings, "migrate", "--to", "deadbeef")
    assert code == 2
    assert "deadbeef" in err and err.count("\n") == 1


def test_status_json_lists_counts(settings: Settings) -> None:
    import json

    migrations.upgrade(settings)
    seed(settings)
    code, out, _ = bot_db(settings, "status", "--json")
    report = json.loads(out)
    assert code == 0
    assert report["backend"] == "external"
    assert report["counts"]["playlists"] == 4


def test_shell_runs_psql_on_the_database(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    migrations.upgrade(settings)
    code, _, _ = bot_db(
        settings, "shell", "--", "-X", "-A", "-t", "-c", "SELECT current_database()"
    )
    assert code == 0
    assert settings.database in capfd.readouterr().out


def test_revision_autogenerates_from_the_models(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project_root()
    shutil.copy(root / "alembic.ini", tmp_path / "alembic.ini")
    shutil.copytree(
        root / "alembic", tmp_path / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.chdir(tmp_path)
    code, _, err = bot_db(settings, "revision", "-m", "too early")
    assert code == 2 and "bot-db migrate" in err
    migrations.upgrade(settings)
    code, out, _ = bot_db(settings, "revision", "-m", "nothing changed")
    assert code == 0
    written = next((tmp_path / "alembic" / "versions").glob("*nothing_changed.py"))
    upgrade_body = written.read_text().split("def upgrade() -> None:")[1].split("def downgrade")[0]
    assert "op." not in upgrade_body
    assert str(written) in out


def test_revision_without_ruff_says_the_file_is_not_formatted(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CONTRIBUTING promises a formatted file; without ruff bot-db says it is not."""
    import importlib.util

    root = project_root()
    shutil.copy(root / "alembic.ini", tmp_path / "alembic.ini")
    shutil.copytree(
        root / "alembic", tmp_path / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    monkeypatch.chdir(tmp_path)
    migrations.upgrade(settings)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ruff" else real(name, *a)
    )
    code, out, err = bot_db(settings, "revision", "-m", "no ruff here")
    assert code == 0
    assert "is not formatted: ruff is not installed" in err
    migrations.upgrade(settings)
    code, out, _ = bot_db(settings, "revision", "-m", "still no ruff", "--json")
    assert json.loads(out)["formatted"] is False


def test_status_of_an_external_server_reports_no_branch_databases(settings: Settings) -> None:
    migrations.upgrade(settings)
    code, out, _ = bot_db(settings, "status", "--json")
    document = json.loads(out)
    assert code == 0 and document["backend"] == "external"
    assert document["disk"] is None and document["branch"] is None
    code, out, _ = bot_db(settings, "status")
    assert code == 0 and "branch databases" not in out


def test_external_down_never_stops_someone_elses_server(settings: Settings) -> None:
    code, out, _ = bot_db(settings, "down")
    assert code == 0 and "not managed by bot-db" in out
    assert bot_db(settings, "check")[0] == 1  # still answers: unmigrated, not unreachable


def test_shell_passes_psql_options_without_a_separator(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    code, _, _ = bot_db(settings, "shell", "-X", "-A", "-t", "-c", "SELECT 40 + 2")
    assert code == 0
    assert "42" in capfd.readouterr().out


def test_shell_with_a_command_prints_only_what_the_query_printed(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    """`bot-db shell -At -c ...` in a script: no .psqlrc banner, no timing line."""
    code, _, _ = bot_db(settings, "shell", "-At", "-c", "SELECT 40 + 2")
    assert code == 0
    assert capfd.readouterr().out == "42\n"


def test_unknown_options_are_still_refused_outside_shell(settings: Settings) -> None:
    code, _, _ = bot_db(settings, "check", "--colour")
    assert code == 2


def test_status_shows_the_connection_budget_and_its_use(settings: Settings) -> None:
    import json

    migrations.upgrade(settings)
    code, out, _ = bot_db(settings, "status", "--backend", "external")
    assert code == 0
    assert "of max_connections" in out and "reserved for superusers" in out
    code, out, _ = bot_db(settings, "status", "--backend", "external", "--json")
    use = json.loads(out)["connections"]
    assert use["max_connections"] >= use["in_use"] >= 1


WARM_UP = """
import io, json, sys
from bot_persistence import cli
from bot_persistence.settings import Settings
settings = Settings.from_values(database_url=sys.argv[1], backend="external")
out = io.StringIO()
code = cli.main(["up"], settings=settings, stdout=out, stderr=io.StringIO())
heavy = sorted(
    name for name in ("alembic", "bot_persistence.models", "bot_persistence.devdb.seeding")
    if name in sys.modules
)
print(json.dumps({"code": code, "heavy": heavy, "out": out.getvalue()}))
"""


def test_warm_up_loads_no_alembic_orm_or_seeds(settings: Settings) -> None:
    import json
    import subprocess
    import sys

    code, _, _ = bot_db(settings, "up")
    assert code == 0
    done = subprocess.run(
        [sys.executable, "-c", WARM_UP, settings.plain_url],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["code"], result["heavy"]) == (0, [])
    assert "at head" in result["out"] and "kept existing rows" in result["out"]
