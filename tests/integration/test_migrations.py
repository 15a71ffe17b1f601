"""Migrating for real: once across many processes, atomically per revision, data kept right."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from bot_persistence import migrations
from bot_persistence.errors import MigrationFailedError
from bot_persistence.project import project_root, versions_dir
from bot_persistence.schema_version import heads_in
from bot_persistence.settings import Settings
from tests.helpers import SHARD_STARTUP, engine_for, scalar, wait_for_lock_waiters

INITIAL = "51d3e20ba02e"
TRACK_SOURCE = "ebaf3bf6b546"
HEAD = heads_in(versions_dir())[0]


def test_many_processes_starting_at_once_migrate_exactly_once(settings: Settings) -> None:
    """Shards start together: one migrates, the others wait on the lock, then see head."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.url.render_as_string(hide_password=False),
        "BOT_DB_MIGRATE_ON_STARTUP": "true",
        "NO_COLOR": "1",
    }
    processes: list[subprocess.Popen[str]] = []
    with engine_for(settings) as holder, holder.connect() as conn, holder.connect() as watcher:
        # Hold the lock ourselves until every process is queued on it, so they
        # really contend at once instead of finishing one after another.
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": migrations.MIGRATION_LOCK_KEY})
        conn.commit()
        # Two of each path contend as well as three would, at two thirds of the
        # start-up cost (each process imports the whole stack).
        commands = [[sys.executable, "-m", "bot_persistence", "migrate"]] * 2 + [
            [sys.executable, "-c", SHARD_STARTUP]
        ] * 2
        names = {f"proc-{n}" for n in range(len(commands))}
        for name, command in zip(sorted(names), commands, strict=True):
            processes.append(
                subprocess.Popen(
                    command,
                    env={**env, "BOT_DB_APPLICATION_NAME": name},
                    cwd=project_root(),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )

        wait_for_lock_waiters(watcher, names, what="every process queued on the lock")
        assert all(p.poll() is None for p in processes), "a process ended early"
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": migrations.MIGRATION_LOCK_KEY})
        conn.commit()
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        outputs.append(out)
    ran = [out for out in outputs if "migrated" in out]
    assert len(ran) == 1, outputs
    assert f"-> {HEAD}" in ran[0]
    cli_outputs = outputs[:2]  # the `bot-db migrate` processes say so when there was nothing to do
    assert sum(f"already at {HEAD}" in out for out in cli_outputs) == 2 - sum(
        "migrated" in out for out in cli_outputs
    )
    assert migrations.current_revision(settings) == HEAD


def test_a_migration_failing_part_way_leaves_the_previous_revision(
    settings: Settings, tmp_path: Path
) -> None:
    root = project_root()
    shutil.copy(root / "alembic.ini", tmp_path / "alembic.ini")
    shutil.copytree(
        root / "alembic", tmp_path / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp_path / "alembic" / "versions" / "broken.py").write_text(
        f'''"""add a table, then fail"""
import sqlalchemy as sa
from alembic import op

revision = "b0b0b0b0b0b0"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute("SELECT 1 / 0")


def downgrade() -> None:
    op.drop_table("half_done")
'''
    )
    with pytest.raises(MigrationFailedError) as caught:
        migrations.upgrade(settings, ini=tmp_path / "alembic.ini")
    message = str(caught.value)
    assert "revision b0b0b0b0b0b0 (add a table, then fail) failed" in message
    assert "division by zero" in message
    assert f"stays at {HEAD}" in message
    assert migrations.current_revision(settings) == HEAD
    assert scalar(settings, "SELECT to_regclass('half_done')") is None


def test_the_track_source_backfill_classifies_existing_rows(settings: Settings) -> None:
    migrations.upgrade(settings, INITIAL)
    urls = {
        "https://www.youtube.com/watch?v=abc": "youtube",
        "https://youtu.be/abc": "youtube",
        "https://soundcloud.com/artist/song": "soundcloud",
        "https://artist.bandcamp.com/track/song": "bandcamp",
        "https://open.spotify.com/track/1": "spotify",
        "https://notyoutube.com/watch": "other",
        "https://example.com/tracks/a": "other",
    }
    with engine_for(settings) as engine:
        with engine.begin() as conn:
            for number, url in enumerate(urls):
                conn.execute(
                    text("INSERT INTO tracks (source_url, title) VALUES (:u, :t)"),
                    {"u": url, "t": f"track {number}"},
                )
        migrations.upgrade(settings)
        with engine.connect() as conn:
            found: dict[str, str] = dict(
                conn.execute(text("SELECT source_url, source::text FROM tracks")).all()
            )
    assert found == urls
