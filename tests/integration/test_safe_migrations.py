"""The zero-downtime helpers (migrations.safe) in revisions run by our own runner, for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Index

from bot_persistence import migrations
from bot_persistence.devdb.seeding import apply_seeds_on
from bot_persistence.errors import MigrationFailedError
from bot_persistence.migrations.roundtrip import roundtrip
from bot_persistence.migrations.safe import not_null_check_name, rename_trigger_name
from bot_persistence.settings import Settings
from tests.helpers import HEAD, History, engine_for, scalar
from tests.integration.test_roundtrip import models_with

#: Playlist entries the ``filled`` database holds (the SQL below spells it out).
ROWS = 250


def constraints(settings: Settings) -> set[str]:
    with engine_for(settings) as engine, engine.connect() as conn:
        return set(conn.exec_driver_sql("SELECT conname FROM pg_constraint").scalars())


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History.copied_to(tmp_path)


@pytest.fixture
def filled(settings: Settings) -> Settings:
    """A database at head with ROWS playlist entries over a few playlists."""
    migrations.upgrade(settings)
    scalar(
        settings,
        """
        WITH u AS (INSERT INTO users (id, username) VALUES (1, 'owner') RETURNING id),
        p AS (
            INSERT INTO playlists (owner_id, name)
            SELECT 1, 'list ' || n FROM generate_series(1, 5) AS n RETURNING id
        ),
        t AS (
            INSERT INTO tracks (source_url, title)
            SELECT 'https://example.test/' || n, 'track ' || n FROM generate_series(1, 250) AS n
            RETURNING id
        )
        SELECT 1
        """,
    )
    scalar(
        settings,
        """
        INSERT INTO playlist_tracks (playlist_id, track_id, position, added_by)
        SELECT (SELECT min(id) FROM playlists) + (n % 5), (SELECT min(id) FROM tracks) + n - 1,
               n / 5, CASE WHEN n % 2 = 0 THEN 1 END
        FROM generate_series(1, 250) AS n
        """,
    )
    return settings


def test_an_index_is_built_and_dropped_concurrently(filled: Settings, history: History) -> None:
    history.add(
        "5afe00000001",
        upgrade='safe.create_index_concurrently("ix_playlist_tracks_added_by", '
        '"playlist_tracks", ["added_by"])',
        downgrade='safe.drop_index_concurrently("ix_playlist_tracks_added_by", "playlist_tracks")',
    )
    # CREATE INDEX CONCURRENTLY inside a transaction is an error: it ran outside one.
    migrations.upgrade(filled, ini=history.ini)
    valid = (
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_playlist_tracks_added_by'::regclass"
    )
    assert scalar(filled, valid) is True
    assert migrations.current_revision(filled) == "5afe00000001"
    migrations.downgrade(filled, "-1", ini=history.ini)
    assert scalar(filled, "SELECT to_regclass('ix_playlist_tracks_added_by')") is None


def test_a_failed_concurrent_build_is_built_again_when_the_revision_runs_again(
    filled: Settings, history: History
) -> None:
    history.add(
        "5afe00000001",
        upgrade='safe.create_index_concurrently("ix_unique_added_by", "playlist_tracks", '
        '["added_by"], unique=True)',
    )
    with pytest.raises(MigrationFailedError, match="5afe00000001"):
        migrations.upgrade(filled, ini=history.ini)
    # The failed build left an INVALID index; the revision is not recorded.
    assert (
        scalar(
            filled,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_unique_added_by'::regclass",
        )
        is False
    )
    assert migrations.current_revision(filled) == HEAD
    scalar(filled, "UPDATE playlist_tracks SET added_by = NULL")
    migrations.upgrade(filled, ini=history.ini)
    assert (
        scalar(
            filled,
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_unique_added_by'::regclass",
        )
        is True
    )


def test_a_backfill_commits_each_batch_on_its_own(filled: Settings, history: History) -> None:
    history.add(
        "5afe00000001",
        upgrade="""
            op.add_column("playlist_tracks", sa.Column("note", sa.Text(), nullable=True))
            safe.backfill_in_batches(
                "playlist_tracks", "note = 'p' || position", where="note IS NULL",
                batch_size=100, pause=0,
            )
        """,
        downgrade='op.drop_column("playlist_tracks", "note")',
    )
    migrations.upgrade(filled, ini=history.ini)
    assert (
        scalar(filled, "SELECT count(*) FROM playlist_tracks WHERE note = 'p' || position") == ROWS
    )
    # Each row keeps the id of the transaction that wrote it: one per batch of 100.
    assert scalar(filled, "SELECT count(DISTINCT xmin::text) FROM playlist_tracks") == 3


def test_a_not_null_column_is_added_in_steps(filled: Settings, history: History) -> None:
    history.add(
        "5afe00000001",
        upgrade="""
            safe.add_not_null_column(
                "playlist_tracks",
                sa.Column("added_day", sa.Date(), server_default=sa.text("CURRENT_DATE")),
                backfill="added_at::date", batch_size=100, pause=0,
            )
        """,
        downgrade='op.drop_column("playlist_tracks", "added_day")',
    )
    migrations.upgrade(filled, ini=history.ini)
    assert (
        scalar(
            filled,
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = 'playlist_tracks' AND column_name = 'added_day'",
        )
        == "NO"
    )
    assert (
        scalar(filled, "SELECT count(*) FROM playlist_tracks WHERE added_day = added_at::date")
        == ROWS
    )
    assert not_null_check_name("playlist_tracks", "added_day") not in constraints(filled)


def test_set_not_null_refuses_while_a_row_is_null_and_changes_nothing(
    filled: Settings, history: History
) -> None:
    history.add(
        "5afe00000001",
        upgrade='safe.set_not_null("playlist_tracks", "added_by")',
    )
    with pytest.raises(MigrationFailedError, match="5afe00000001"):
        migrations.upgrade(filled, ini=history.ini)
    assert (
        scalar(
            filled,
            "SELECT is_nullable FROM information_schema.columns "
            "WHERE table_name = 'playlist_tracks' AND column_name = 'added_by'",
        )
        == "YES"
    )
    # Run again once the data allows it: the check left by the failed run is replaced.
    scalar(filled, "UPDATE playlist_tracks SET added_by = 1 WHERE added_by IS NULL")
    migrations.upgrade(filled, ini=history.ini)
    assert migrations.current_revision(filled) == "5afe00000001"


def test_a_rename_keeps_both_columns_equal_then_drops_the_old_one(
    filled: Settings, history: History
) -> None:
    history.add(
        "5afe00000001",
        upgrade="""
            safe.start_column_rename(
                "playlist_tracks", "added_by", "added_by_user", sa.BigInteger(),
                batch_size=100, pause=0,
            )
        """,
        downgrade='safe.undo_start_column_rename("playlist_tracks", "added_by", "added_by_user")',
    )
    history.add(
        "5afe00000002",
        down="5afe00000001",
        upgrade='safe.finish_column_rename("playlist_tracks", "added_by", "added_by_user")',
        downgrade="""
            safe.undo_finish_column_rename(
                "playlist_tracks", "added_by", "added_by_user", sa.BigInteger(), pause=0
            )
        """,
    )
    migrations.upgrade(filled, "5afe00000001", ini=history.ini)
    same = "SELECT count(*) FROM playlist_tracks WHERE added_by IS NOT DISTINCT FROM added_by_user"
    assert scalar(filled, same) == ROWS
    with engine_for(filled) as engine, engine.begin() as conn:
        # Old code writes the old column, new code the new one: both stay equal.
        conn.exec_driver_sql(
            "UPDATE playlist_tracks SET added_by = NULL "
            "WHERE id = (SELECT min(id) FROM playlist_tracks)"
        )
        conn.exec_driver_sql(
            "UPDATE playlist_tracks SET added_by_user = 1 "
            "WHERE id = (SELECT min(id) + 2 FROM playlist_tracks)"
        )
        conn.exec_driver_sql(
            "INSERT INTO playlist_tracks (playlist_id, track_id, position, added_by) "
            "SELECT playlist_id, track_id, 1000, 1 FROM playlist_tracks LIMIT 1"
        )
    assert scalar(filled, same) == ROWS + 1
    migrations.upgrade(filled, ini=history.ini)
    assert (
        scalar(
            filled,
            "SELECT to_regproc('"
            + rename_trigger_name("playlist_tracks", "added_by", "added_by_user")
            + "')",
        )
        is None
    )
    assert (
        scalar(
            filled,
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'playlist_tracks' AND column_name = 'added_by'",
        )
        == 0
    )
    migrations.downgrade(filled, HEAD, ini=history.ini)
    # Back at the first release: the old column is there again, filled from the new one.
    assert scalar(filled, "SELECT count(*) FROM playlist_tracks WHERE added_by = 1") == (
        ROWS // 2 + 2  # the even rows, one set through the new column, one inserted
    )


def test_the_safe_index_passes_the_roundtrip_and_its_squawk_lint(
    db_server: Settings, history: History
) -> None:
    history.add(
        "5afe00000001",
        upgrade='safe.create_index_concurrently("ix_tracks_title", "tracks", ["title"])',
        downgrade='safe.drop_index_concurrently("ix_tracks_title", "tracks")',
    )
    report = roundtrip(
        db_server,
        seed=apply_seeds_on,
        ini=history.ini,
        metadata=models_with(lambda m: Index("ix_tracks_title", m.tables["tracks"].c.title)),
    )
    assert report.ok, [(r.check, r.summary, r.detail) for r in report.findings]
