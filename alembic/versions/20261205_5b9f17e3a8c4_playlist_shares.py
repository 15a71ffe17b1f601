"""playlist shares: a playlist shared with a user, to play or to edit

One new table, ``playlist_shares`` (playlist, user, ``can_edit``), keyed by
the pair; the index on ``user_id`` serves "playlists shared with me" and the
deletes a user's forgetting cascades. New and empty: nothing the bot uses is
locked beyond the foreign keys' brief SHARE ROW EXCLUSIVE on ``playlists``
and ``users``.

Revision ID: 5b9f17e3a8c4
Revises: 2d7b8e4f6a90
Create Date: 2026-12-05 04:43:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b9f17e3a8c4"
down_revision: str | Sequence[str] | None = "2d7b8e4f6a90"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "playlist_shares",
        sa.Column("playlist_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("can_edit", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "shared_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["playlist_id"],
            ["playlists.id"],
            name=op.f("fk_playlist_shares_playlist_id_playlists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_playlist_shares_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("playlist_id", "user_id", name=op.f("pk_playlist_shares")),
    )
    op.create_index(op.f("ix_playlist_shares_user_id"), "playlist_shares", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_playlist_shares_user_id"), table_name="playlist_shares")
    op.drop_table("playlist_shares")
