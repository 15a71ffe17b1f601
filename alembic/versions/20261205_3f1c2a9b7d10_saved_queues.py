"""saved queues: a guild's player queue kept across restarts

Two new tables, ``saved_queues`` (one row per guild: channels, where the
player was, volume, repeat, paused) and ``queue_tracks`` (the tracks in order,
keyed by guild and position). New tables hold no rows, so creating them and
their indexes inside the revision's transaction locks nothing the bot uses;
the foreign keys to ``guilds`` and ``tracks`` take a brief SHARE ROW EXCLUSIVE
lock on those tables, which concurrent reads and writes of rows never wait on
for longer than the CREATE itself.

The ``repeat_mode`` enum type exists already (``user_preferences``); it is
reused, not created, and so not dropped by the downgrade.

Revision ID: 3f1c2a9b7d10
Revises: ebaf3bf6b546
Create Date: 2026-12-05 04:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "3f1c2a9b7d10"
down_revision: str | Sequence[str] | None = "ebaf3bf6b546"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

repeat_mode = postgresql.ENUM("off", "track", "queue", name="repeat_mode", create_type=False)


def upgrade() -> None:
    op.create_table(
        "saved_queues",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("voice_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("text_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("current_index", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("position_ms", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("volume", sa.SmallInteger(), server_default=sa.text("50"), nullable=False),
        sa.Column("repeat_mode", repeat_mode, server_default="off", nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "saved_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            "current_index >= 0", name=op.f("ck_saved_queues_current_index_not_negative")
        ),
        sa.CheckConstraint(
            "position_ms >= 0", name=op.f("ck_saved_queues_position_ms_not_negative")
        ),
        sa.CheckConstraint("volume BETWEEN 0 AND 200", name=op.f("ck_saved_queues_volume_range")),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["guilds.id"],
            name=op.f("fk_saved_queues_guild_id_guilds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("guild_id", name=op.f("pk_saved_queues")),
    )
    op.create_table(
        "queue_tracks",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("position >= 0", name=op.f("ck_queue_tracks_position_not_negative")),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["saved_queues.guild_id"],
            name=op.f("fk_queue_tracks_guild_id_saved_queues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_queue_tracks_track_id_tracks"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("guild_id", "position", name=op.f("pk_queue_tracks")),
    )
    op.create_index(op.f("ix_queue_tracks_track_id"), "queue_tracks", ["track_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_queue_tracks_track_id"), table_name="queue_tracks")
    op.drop_table("queue_tracks")
    op.drop_table("saved_queues")
