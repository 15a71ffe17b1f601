"""guild playback settings: DJ roles, volume cap, vote skip, 24/7, idle leave, repeat, requests

``guild_settings`` gains the playback settings music bots keep per guild:
``dj_only``, ``dj_role_ids`` (several DJ roles), ``max_volume``,
``vote_skip_ratio``, ``stay_channel_id`` (24/7), ``idle_disconnect_seconds``,
``repeat_mode`` and ``request_channel_id``. Expand, then contract later:

- every column is nullable or has a constant DEFAULT, so adding it is a
  catalogue change (no rewrite) and old code that never names it keeps working;
- ``dj_role_ids`` replaces the single ``dj_role_id``; existing roles are
  backfilled into it in batches of ``BATCH`` guilds, each committed on its own
  (keyset over the primary key, so a batch finds its rows by index and no lock
  is held across batches). ``dj_role_id`` stays until no running bot reads it
  and is dropped by a later revision (the contract step);
- the CHECKs are added NOT VALID, then VALIDATEd outside the transaction,
  under a lock that lets the bot read and write settings meanwhile.

Behind a transaction pooler the run is one transaction: the backfill and the
validation then run inside it.

Revision ID: e07a3d5c9b21
Revises: 5b9f17e3a8c4
Create Date: 2026-12-05 04:44:00.000000
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e07a3d5c9b21"
down_revision: str | Sequence[str] | None = "5b9f17e3a8c4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# squawk: rules this revision breaks on purpose, each with why it is safe here.
squawk_exemptions = {
    "constraint-missing-not-valid": (
        "the CHECKs are added NOT VALID and validated in Alembic's autocommit block, "
        "outside the transaction; the lint sees the SQL with the COMMIT/BEGIN removed"
    ),
}

repeat_mode = postgresql.ENUM("off", "track", "queue", name="repeat_mode", create_type=False)

#: Guilds per backfill batch: each batch is one short transaction.
BATCH = 1000

CHECKS = {
    "max_volume_range": "max_volume BETWEEN 0 AND 200 AND default_volume <= max_volume",
    "dj_role_ids_count": "cardinality(dj_role_ids) <= 25",
    "vote_skip_ratio_range": "vote_skip_ratio > 0 AND vote_skip_ratio <= 1",
    "idle_disconnect_seconds_range": "idle_disconnect_seconds BETWEEN 0 AND 86400",
}

BATCH_END = sa.text(
    "SELECT max(guild_id) FROM (SELECT guild_id FROM guild_settings WHERE guild_id > :after "
    "ORDER BY guild_id LIMIT :size) AS batch"
)
BACKFILL = (
    "UPDATE guild_settings SET dj_role_ids = ARRAY[dj_role_id] "
    "WHERE dj_role_id IS NOT NULL AND dj_role_ids = '{}'"
)


@contextlib.contextmanager
def outside_transaction() -> Iterator[bool]:
    """Run the block outside the revision's transaction; yields whether it could.

    Not when the caller runs the whole migration in one transaction of its own
    (behind a transaction pooler): committing that would end its advisory lock.
    """
    context = op.get_context()
    if not context.as_sql and context._in_external_transaction:
        yield False
        return
    with context.autocommit_block():
        yield True


def backfill_dj_roles() -> None:
    """Copy each guild's ``dj_role_id`` into ``dj_role_ids``, ``BATCH`` guilds at a time."""
    if op.get_context().as_sql:
        op.execute(BACKFILL)  # offline SQL: one statement for the reader to run
        return
    bind = op.get_bind()
    after = 0
    while True:
        end = bind.execute(BATCH_END, {"after": after, "size": BATCH}).scalar()
        if end is None:
            return
        bind.execute(
            sa.text(f"{BACKFILL} AND guild_id > :after AND guild_id <= :end"),
            {"after": after, "end": end},
        )
        after = end


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
    with outside_transaction():
        backfill_dj_roles()
        for name in CHECKS:
            op.execute(f"ALTER TABLE guild_settings VALIDATE CONSTRAINT ck_guild_settings_{name}")


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
