"""play history: what each guild played, and running play counts

Two new tables: ``play_history`` (one row per play, trimmed to the newest
``BOT_DB_HISTORY_LIMIT`` per guild) and ``track_plays`` (a counter per guild
and track, for "most played"; not trimmed). Both are new and empty, so their
indexes are built inside the revision's transaction without locking anything
the bot uses.

Revision ID: 8a4e6c2d1b57
Revises: 3f1c2a9b7d10
Create Date: 2026-12-05 04:41:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8a4e6c2d1b57"
down_revision: str | Sequence[str] | None = "3f1c2a9b7d10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "play_history",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("track_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "played_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["guilds.id"],
            name=op.f("fk_play_history_guild_id_guilds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_play_history_track_id_tracks"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_play_history_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_play_history")),
    )
    op.create_index(
        op.f("ix_play_history_guild_id"), "play_history", ["guild_id", "played_at", "id"]
    )
    op.create_index(op.f("ix_play_history_user_id"), "play_history", ["user_id", "played_at", "id"])
    op.create_index(op.f("ix_play_history_track_id"), "play_history", ["track_id"])
    op.create_table(
        "track_plays",
        sa.Column("guild_id", sa.BigInteger(), nullable=False),
        sa.Column("track_id", sa.BigInteger(), nullable=False),
        sa.Column("play_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "last_played_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("play_count >= 0", name=op.f("ck_track_plays_play_count_not_negative")),
        sa.ForeignKeyConstraint(
            ["guild_id"],
            ["guilds.id"],
            name=op.f("fk_track_plays_guild_id_guilds"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
            name=op.f("fk_track_plays_track_id_tracks"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("guild_id", "track_id", name=op.f("pk_track_plays")),
    )
    op.create_index(op.f("ix_track_plays_guild_id"), "track_plays", ["guild_id", "play_count"])
    op.create_index(op.f("ix_track_plays_track_id"), "track_plays", ["track_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_track_plays_track_id"), table_name="track_plays")
    op.drop_index(op.f("ix_track_plays_guild_id"), table_name="track_plays")
    op.drop_table("track_plays")
    op.drop_index(op.f("ix_play_history_track_id"), table_name="play_history")
    op.drop_index(op.f("ix_play_history_user_id"), table_name="play_history")
    op.drop_index(op.f("ix_play_history_guild_id"), table_name="play_history")
    op.drop_table("play_history")
