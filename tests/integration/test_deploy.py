"""``bot-db deploy`` and the sample-data guards against a real server."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot_persistence import migrations
from bot_persistence.db import Database
from bot_persistence.errors import SchemaAheadOfCodeError, SchemaNotAtHeadError
from bot_persistence.migrations.runner import MIGRATION_LOCK_KEY
from bot_persistence.project import versions_dir
from bot_persistence.schema_version import heads_in, known_revisions
from bot_persistence.settings import Settings
from tests.helpers import bot_db, table_rows, wait_until

HEAD = heads_in(versions_dir())[0]
REVISIONS = len(known_revisions(versions_dir()))
UNKNOWN = "fffffffffff0"


def stamp(settings: Settings, *revisions: str) -> None:
    """Stamp the database with exactly these revisions, as another release might have."""
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
            for revision in revisions:
                conn.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
    finally:
        engine.dispose()


def production(settings: Settings) -> Settings:
    return settings.model_copy(update={"environment": "production"})


def test_deploy_prints_the_plan_then_migrates_without_seeding(settings: Settings) -> None:
    code, out, err = bot_db(production(settings), "deploy")
    assert code == 0, err
    lines = out.splitlines()
    plan = f"plan      {settings.database}: base -> {HEAD} ({REVISIONS} revisions)"
    assert lines[0].endswith(plan)
    assert f"deploy    base -> {HEAD}" in lines[-1]
    assert migrations.current_revision(settings) == HEAD
    assert all(not rows for rows in table_rows(settings).values()), "deploy wrote sample data"

    code, out, _ = bot_db(production(settings), "deploy")
    assert code == 0 and f"nothing to do: at {HEAD}" in out


def test_deploy_sql_writes_the_sql_and_runs_nothing(settings: Settings, tmp_path: Path) -> None:
    target = tmp_path / "deploy.sql"
    code, out, err = bot_db(production(settings), "deploy", "--sql", str(target))
    assert code == 0, err
    sql = target.read_text(encoding="utf-8")
    assert "CREATE TABLE alembic_version" in sql and f"'{HEAD}'" in sql
    assert "nothing was run" in out
    assert migrations.current_revision(settings) is None


def test_deploy_json_reports_the_plan_and_what_ran(settings: Settings) -> None:
    code, out, err = bot_db(production(settings), "deploy", "--json", "--sql", "-")
    assert code == 0, err
    report = json.loads(out)
    assert (report["current"], report["target"], len(report["steps"])) == (None, HEAD, REVISIONS)
    assert "CREATE TABLE alembic_version" in report["sql"]
    assert migrations.current_revision(settings) is None

    code, out, err = bot_db(production(settings), "deploy", "--json")
    assert code == 0, err
    assert (json.loads(out)["ran"], json.loads(out)["after"]) == (True, HEAD)
    code, out, _ = bot_db(production(settings), "deploy", "--json")
    assert json.loads(out) == {
        "database": settings.database,
        "current": HEAD,
        "target": HEAD,
        "steps": [],
        "ran": False,
        "after": HEAD,
    }


@pytest.mark.parametrize(
    ("stamps", "error"),
    [
        ([UNKNOWN], "ahead of the code"),
        ([HEAD, UNKNOWN], "several heads"),
    ],
    ids=["ahead", "several-heads"],
)
def test_deploy_refuses_a_database_it_cannot_move(
    settings: Settings, stamps: list[str], error: str
) -> None:
    migrations.upgrade(settings)
    stamp(settings, *stamps)
    before = table_rows(settings)
    code, _, err = bot_db(production(settings), "deploy")
    assert code == 1 and error in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert table_rows(settings) == before


async def test_start_up_names_a_database_ahead_of_the_code(settings: Settings) -> None:
    migrations.upgrade(settings)
    stamp(settings, UNKNOWN)
    migrating = settings.model_copy(update={"migrate_on_startup": True})
    with pytest.raises(SchemaAheadOfCodeError, match="migrations do not have"):
        await Database.connect(migrating)


async def test_start_up_names_a_database_behind_the_code(settings: Settings) -> None:
    migrations.upgrade(settings, "+1")
    with pytest.raises(SchemaNotAtHeadError, match=r"behind the code's head.*bot-db deploy"):
        await Database.connect(settings)


@pytest.mark.parametrize(
    "argv",
    [("seed",), ("seed", "--force"), ("up",), ("up", "--force"), ("reset", "--yes", "--force")],
    ids=["seed", "seed-force", "up", "up-force", "reset-force"],
)
def test_sample_data_never_reaches_production(settings: Settings, argv: tuple[str, ...]) -> None:
    migrations.upgrade(settings)
    before = table_rows(settings)
    extra = ("--backend", "external") if argv[0] != "seed" else ()
    code, _, err = bot_db(production(settings), *argv, *extra)
    assert code == 2, err
    assert err.count("\n") == 1 and "production" in err
    assert table_rows(settings) == before


def test_seeding_a_remote_host_needs_force(settings: Settings) -> None:
    remote = Settings.from_values(database_url="postgresql://bot:pw@db.example.invalid:5432/bot")
    code, _, err = bot_db(remote, "seed")
    assert code == 2 and "not a local host" in err and "--force" in err


def _waiting_on_an_advisory_lock(settings: Settings) -> bool:
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar()
            return bool(found)
    finally:
        engine.dispose()


def test_a_deploy_that_waited_for_another_says_nothing_to_do(settings: Settings) -> None:
    code, out, _ = bot_db(production(settings), "deploy", "--json", "--sql", "-")
    first = json.loads(out)["steps"][-2]["revision"]
    assert bot_db(production(settings), "deploy")[0] == 0
    stamp(settings, first)  # one revision behind head: the plan has one step
    results: list[tuple[int, str, str]] = []
    engine = create_engine(settings.url, poolclass=NullPool)
    try:
        with engine.connect() as holder:  # another deployer, holding the lock
            holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            holder.commit()
            waiting = threading.Thread(
                target=lambda: results.append(bot_db(production(settings), "deploy"))
            )
            waiting.start()
            wait_until(
                lambda: _waiting_on_an_advisory_lock(settings),
                timeout=30,
                what="the deploy waiting on the migration lock",
            )
            stamp(settings, HEAD)  # the other deployer finished while this one waited
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            holder.commit()
            waiting.join(timeout=60)
    finally:
        engine.dispose()
    code, out, err = results[0]
    assert code == 0, err
    assert f"plan      {settings.database}: {first} -> {HEAD} (1 revision)" in out
    assert out.splitlines()[-1].endswith(
        f"deploy    nothing to do: another deploy took it to {HEAD}"
    )
