"""playlist names unique per scope: per owner for user playlists, per guild for guild ones

The contract step after ``c62d0e9a4f13`` (scope). The one unique constraint on
``(owner_id, name)`` becomes two partial unique indexes, ``(owner_id, name)
WHERE scope = 'user'`` and ``(guild_id, name) WHERE scope = 'guild'``, and the
scope CHECK added NOT VALID is validated. Both indexes are built CONCURRENTLY
(:mod:`bot_persistence.migrations.safe`), so the bot goes on writing playlists
while they are built, and before the old constraint is dropped, so names stay
unique throughout. The statements outside a transaction are the only thing in
this revision besides that drop, and each can run again: a run cut short
(an interrupted build leaves an INVALID index, which the helper drops and
builds again) is finished by running the revision again.

Behind a transaction pooler the whole migration run is one transaction, which
cannot hold a CONCURRENTLY build: there the indexes are built and the CHECK
validated inside it (a SHARE lock on ``playlists`` for the build). That is the
path of a database migrated on start-up through PgBouncer; an existing busy
database is best migrated through a direct connection (``bot-db deploy``).

Revision ID: 2d7b8e4f6a90
Revises: c62d0e9a4f13
Create Date: 2026-12-05 04:42:30.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot_persistence.migrations import safe

revision: str = "2d7b8e4f6a90"
down_revision: str | Sequence[str] | None = "c62d0e9a4f13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# squawk: rules this revision breaks on purpose, each with why it is safe here.
squawk_exemptions = {
    "ban-drop-constraint": (
        "the unique (owner_id, name) constraint is dropped after the partial unique index "
        "uq_playlists_user_scope_name, which keeps the same guarantee for user playlists, "
        "is built and valid"
    ),
}

INDEXES = {
    "uq_playlists_user_scope_name": (["owner_id", "name"], "scope = 'user'"),
    "uq_playlists_guild_scope_name": (["guild_id", "name"], "scope = 'guild'"),
}
VALIDATE = "ALTER TABLE playlists VALIDATE CONSTRAINT ck_playlists_scope_has_its_key"
#: The CHECK as c62d0e9a4f13 added it (written out: a revision keeps its meaning).
SCOPE_HAS_ITS_KEY = (
    "scope = 'user' AND owner_id IS NOT NULL OR scope = 'guild' AND guild_id IS NOT NULL"
)


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
    if _one_transaction():
        op.execute(VALIDATE)
        for name, (columns, where) in INDEXES.items():
            op.create_index(
                name, "playlists", columns, unique=True, postgresql_where=sa.text(where)
            )
    else:
        with safe.outside_transaction():
            op.execute(VALIDATE)  # SHARE UPDATE EXCLUSIVE: the bot reads and writes on
        for name, (columns, where) in INDEXES.items():
            safe.create_index_concurrently(name, "playlists", columns, unique=True, where=where)
    op.drop_constraint(op.f("uq_playlists_owner_id_name"), "playlists", type_="unique")


def downgrade() -> None:
    op.create_unique_constraint(
        op.f("uq_playlists_owner_id_name"), "playlists", ["owner_id", "name"]
    )
    for name in reversed(list(INDEXES)):
        op.drop_index(name, table_name="playlists")
    # A CHECK cannot be made NOT VALID again: dropped and added back as c62d0e9a4f13 left it.
    check = op.f("ck_playlists_scope_has_its_key")
    op.drop_constraint(check, "playlists", type_="check")
    op.create_check_constraint(check, "playlists", SCOPE_HAS_ITS_KEY, postgresql_not_valid=True)
