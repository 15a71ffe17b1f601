"""Index changes `bot-db revision` writes: concurrently on a table in use, plain on a new one."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import render_python_code
from alembic.operations import ops

from bot_persistence.migrations.autogen import safer_ops


def rendered(*entries: ops.MigrateOperation) -> str:
    container = ops.UpgradeOps(ops=list(entries))
    safer_ops(container)
    return render_python_code(container)


def test_an_index_on_a_table_in_use_is_built_and_dropped_concurrently() -> None:
    code = rendered(
        ops.ModifyTableOps(
            "playlist_tracks",
            [
                ops.CreateIndexOp("ix_playlist_tracks_added_by", "playlist_tracks", ["added_by"]),
                ops.DropIndexOp("ix_old", "playlist_tracks"),
            ],
        )
    )
    assert (
        "safe.create_index_concurrently('ix_playlist_tracks_added_by', "
        "'playlist_tracks', ['added_by'])" in code
    )
    assert "safe.drop_index_concurrently('ix_old', 'playlist_tracks')" in code
    assert "op.create_index" not in code and "op.drop_index" not in code


def test_a_unique_index_keeps_its_uniqueness() -> None:
    code = rendered(ops.CreateIndexOp("uq_x", "tracks", ["title"], unique=True))
    assert "safe.create_index_concurrently('uq_x', 'tracks', ['title'], unique=True)" in code


def test_an_index_on_a_table_the_revision_creates_stays_plain() -> None:
    code = rendered(
        ops.CreateTableOp("moods", [sa.Column("id", sa.BigInteger(), primary_key=True)]),
        ops.CreateIndexOp("ix_moods_id", "moods", ["id"]),
    )
    assert "op.create_index" in code and "safe." not in code


def test_an_expression_index_is_left_for_the_reviewer() -> None:
    code = rendered(ops.CreateIndexOp("ix_lower", "tracks", [sa.text("lower(title)")]))
    assert "op.create_index" in code and "safe." not in code
