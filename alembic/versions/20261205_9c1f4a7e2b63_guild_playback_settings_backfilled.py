"""guild playback settings backfilled: DJ roles copied in batches, CHECKs validated

The second step after ``e07a3d5c9b21``: each guild's single ``dj_role_id`` is
copied into ``dj_role_ids`` by :func:`bot_persistence.migrations.safe.backfill_in_batches`
(key ranges of ``guild_id``, each batch its own transaction, so the bot's
settings writes wait for one batch at most), then the four CHECKs added NOT
VALID are validated (a scan under SHARE UPDATE EXCLUSIVE: the bot reads and
writes settings meanwhile). Both can run again: the backfill skips guilds
already done (``dj_role_ids`` not empty) and validating a valid CHECK is a
no-op, so a run cut short is finished by running the revision again.

Behind a transaction pooler the run is one transaction: the backfill is one
UPDATE and the validation runs inside it.

Revision ID: 9c1f4a7e2b63
Revises: e07a3d5c9b21
Create Date: 2026-12-05 04:44:30.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from bot_persistence.migrations import safe

revision: str = "9c1f4a7e2b63"
down_revision: str | Sequence[str] | None = "e07a3d5c9b21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The CHECKs e07a3d5c9b21 added NOT VALID, by name (written out: a revision keeps its meaning).
CHECKS = {
    "ck_guild_settings_max_volume_range": (
        "max_volume BETWEEN 0 AND 200 AND default_volume <= max_volume"
    ),
    "ck_guild_settings_dj_role_ids_count": "cardinality(dj_role_ids) <= 25",
    "ck_guild_settings_vote_skip_ratio_range": "vote_skip_ratio > 0 AND vote_skip_ratio <= 1",
    "ck_guild_settings_idle_disconnect_seconds_range": (
        "idle_disconnect_seconds BETWEEN 0 AND 86400"
    ),
}
# rewrites_data: the backfill fills dj_role_ids, empty since e07a3d5c9b21, on purpose.
rewrites_data = "fills each guild's dj_role_ids (empty until now) from its dj_role_id"

COPY_ROLE = "dj_role_ids = ARRAY[dj_role_id]"
NOT_DONE = "dj_role_id IS NOT NULL AND dj_role_ids = '{}'"


def _one_transaction() -> bool:
    """True when the caller runs the whole migration as one transaction (a pooler)."""
    context = op.get_context()
    connection = context.connection
    return (
        not context.as_sql
        and connection is not None
        and connection.in_transaction()
        and context._transaction is None
    )


def upgrade() -> None:
    validate = [f"ALTER TABLE guild_settings VALIDATE CONSTRAINT {name}" for name in CHECKS]
    if _one_transaction():
        op.execute(f"UPDATE guild_settings SET {COPY_ROLE} WHERE {NOT_DONE}")  # noqa: S608
        for statement in validate:
            op.execute(statement)
        return
    safe.backfill_in_batches(
        "guild_settings", COPY_ROLE, where=NOT_DONE, key="guild_id", batch_size=1_000
    )
    with safe.outside_transaction():
        for statement in validate:
            op.execute(statement)


def downgrade() -> None:
    # A CHECK cannot be made NOT VALID again: each is dropped and added back as
    # e07a3d5c9b21 left it. The copied roles stay (dj_role_id still holds each
    # guild's first one, and e07a3d5c9b21's downgrade drops the column).
    for name, condition in CHECKS.items():
        op.drop_constraint(op.f(name), "guild_settings", type_="check")
        op.create_check_constraint(
            op.f(name), "guild_settings", condition, postgresql_not_valid=True
        )
