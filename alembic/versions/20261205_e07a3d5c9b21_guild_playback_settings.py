"""guild playback settings: DJ roles, volume cap, vote skip, 24/7, idle leave, repeat, requests

``guild_settings`` gains the playback settings music bots keep per guild:
``dj_only``, ``dj_role_ids`` (several DJ roles), ``max_volume``,
``vote_skip_ratio``, ``stay_channel_id`` (24/7), ``idle_disconnect_seconds``,
``repeat_mode`` and ``request_channel_id``. The expand step:

- every column is nullable or has a constant DEFAULT, so adding it is a
  catalogue change (no rewrite) and old code that never names it keeps working;
- ``dj_role_ids`` replaces the single ``dj_role_id``: the next revision
  (``9c1f4a7e2b63``) backfills it in batches and validates the CHECKs added
  here NOT VALID (no scan under this revision's ACCESS EXCLUSIVE lock).
  ``dj_role_id`` stays until no running bot reads it, and a later revision
  drops it (the contract step); until then the repository writes both.

Everything here is transactional: a failure leaves the revision before it.

Revision ID: e07a3d5c9b21
Revises: 5b9f17e3a8c4
Create Date: 2026-12-05 04:44:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e07a3d5c9b21"
down_revision: str | Sequence[str] | None = "5b9f17e3a8c4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

repeat_mode = postgresql.ENUM("off", "track", "queue", name="repeat_mode", create_type=False)

#: The CHECKs, added NOT VALID here and validated by the next revision.
CHECKS = {
    "max_volume_range": "max_volume BETWEEN 0 AND 200 AND default_volume <= max_volume",
    "dj_role_ids_count": "cardinality(dj_role_ids) <= 25",
    "vote_skip_ratio_range": "vote_skip_ratio > 0 AND vote_skip_ratio <= 1",
    "idle_disconnect_seconds_range": "idle_disconnect_seconds BETWEEN 0 AND 86400",
}


def upgrade() -> None:
    op.add_column(
        "guild_settings",
        sa.Column("dj_only", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column(
        "guild_settings",
        sa.Column(
            "dj_role_ids",
            postgresql.ARRAY(sa.BigInteger()),
            server_default=sa.text("'{}'::bigint[]"),
            nullable=False,
        ),
    )
    op.add_column(
        "guild_settings",
        sa.Column("max_volume", sa.SmallInteger(), server_default=sa.text("200"), nullable=False),
    )
    op.add_column(
        "guild_settings",
        sa.Column("vote_skip_ratio", sa.Double(), server_default=sa.text("0.5"), nullable=False),
    )
    op.add_column("guild_settings", sa.Column("stay_channel_id", sa.BigInteger(), nullable=True))
    op.add_column(
        "guild_settings",
        sa.Column(
            "idle_disconnect_seconds", sa.Integer(), server_default=sa.text("300"), nullable=False
        ),
    )
    op.add_column(
        "guild_settings",
        sa.Column("repeat_mode", repeat_mode, server_default="off", nullable=False),
    )
    op.add_column("guild_settings", sa.Column("request_channel_id", sa.BigInteger(), nullable=True))
    for name, condition in CHECKS.items():
        op.create_check_constraint(
            op.f(f"ck_guild_settings_{name}"),
            "guild_settings",
            condition,
            postgresql_not_valid=True,
        )


def downgrade() -> None:
    for name in reversed(list(CHECKS)):
        op.drop_constraint(op.f(f"ck_guild_settings_{name}"), "guild_settings", type_="check")
    for column in (
        "request_channel_id",
        "repeat_mode",
        "idle_disconnect_seconds",
        "stay_channel_id",
        "vote_skip_ratio",
        "max_volume",
        "dj_role_ids",
        "dj_only",
    ):
        op.drop_column("guild_settings", column)
