"""playlist scope: guild playlists beside users' own, names unique per scope

``playlists`` gains ``scope`` (enum ``playlist_scope``: ``user`` or
``guild``); ``owner_id`` may now be NULL (a guild playlist whose creator asked
to be forgotten stays the guild's). The one unique constraint on
``(owner_id, name)`` becomes two partial unique indexes: per owner for user
scope, per guild for guild scope. Written so a busy ``playlists`` table keeps
serving the bot while it runs:

- ``scope`` is added NOT NULL with a constant DEFAULT ``'user'``: PostgreSQL
  records the default in the catalogue and every existing row reads it, with
  no rewrite and no UPDATE. That *is* the backfill: every playlist made before
  this revision is a user's. (A batched UPDATE would rewrite each row to the
  value it already reads.) Old code inserting without ``scope`` gets ``user``
  too, which is what it means.
- dropping NOT NULL on ``owner_id`` is a catalogue change.
- the CHECK that each scope has its key is added NOT VALID (no scan under the
  ACCESS EXCLUSIVE lock), then VALIDATEd outside the transaction, under a lock
  that lets reads and writes go on.
- the partial unique indexes are built CONCURRENTLY, outside the transaction
  (Alembic's autocommit block), before the old constraint is dropped, so the
  names stay unique throughout.

Behind a transaction pooler the whole migration run is one transaction, where
CONCURRENTLY cannot run: there the indexes are built and the CHECK validated
in that transaction (a SHARE lock on ``playlists`` for the build).

Revision ID: c62d0e9a4f13
Revises: 8a4e6c2d1b57
Create Date: 2026-12-05 04:42:00.000000
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c62d0e9a4f13"
down_revision: str | Sequence[str] | None = "8a4e6c2d1b57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# squawk: rules this revision breaks on purpose, each with why it is safe here.
squawk_exemptions = {
    "ban-concurrent-index-creation-in-transaction": (
        "the CONCURRENTLY builds run in Alembic's autocommit block, outside the "
        "transaction; the lint sees the SQL with the COMMIT/BEGIN around them removed"
    ),
    "constraint-missing-not-valid": (
        "the CHECK is added NOT VALID and validated in Alembic's autocommit block, outside "
        "the transaction; the lint sees the SQL with the COMMIT/BEGIN around it removed"
    ),
    "ban-drop-not-null": (
        "only guild playlists of forgotten users get a NULL owner, written by new code; "
        "old code lists playlists by owner and never meets one"
    ),
    "ban-drop-constraint": (
        "the unique (owner_id, name) constraint is dropped after the partial unique index "
        "uq_playlists_user_scope_name, which keeps the same guarantee for user playlists, "
        "is built and valid"
    ),
}

playlist_scope = postgresql.ENUM("user", "guild", name="playlist_scope", create_type=False)

SCOPE_HAS_ITS_KEY = (
    "scope = 'user' AND owner_id IS NOT NULL OR scope = 'guild' AND guild_id IS NOT NULL"
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


def upgrade() -> None:
    playlist_scope.create(op.get_bind(), checkfirst=False)
    op.add_column(
        "playlists", sa.Column("scope", playlist_scope, server_default="user", nullable=False)
    )
    op.alter_column("playlists", "owner_id", existing_type=sa.BigInteger(), nullable=True)
    op.create_check_constraint(
        op.f("ck_playlists_scope_has_its_key"),
        "playlists",
        SCOPE_HAS_ITS_KEY,
        postgresql_not_valid=True,
    )
    with outside_transaction() as concurrently:
        op.execute("ALTER TABLE playlists VALIDATE CONSTRAINT ck_playlists_scope_has_its_key")
        op.create_index(
            "uq_playlists_user_scope_name",
            "playlists",
            ["owner_id", "name"],
            unique=True,
            postgresql_where=sa.text("scope = 'user'"),
            postgresql_concurrently=concurrently,
        )
        op.create_index(
            "uq_playlists_guild_scope_name",
            "playlists",
            ["guild_id", "name"],
            unique=True,
            postgresql_where=sa.text("scope = 'guild'"),
            postgresql_concurrently=concurrently,
        )
    op.drop_constraint(op.f("uq_playlists_owner_id_name"), "playlists", type_="unique")


def downgrade() -> None:
    # A guild playlist whose owner was forgotten has no user to belong to again.
    op.execute("DELETE FROM playlists WHERE owner_id IS NULL")
    op.create_unique_constraint(
        op.f("uq_playlists_owner_id_name"), "playlists", ["owner_id", "name"]
    )
    op.drop_index("uq_playlists_guild_scope_name", table_name="playlists")
    op.drop_index("uq_playlists_user_scope_name", table_name="playlists")
    op.drop_constraint(op.f("ck_playlists_scope_has_its_key"), "playlists", type_="check")
    op.alter_column("playlists", "owner_id", existing_type=sa.BigInteger(), nullable=False)
    op.drop_column("playlists", "scope")
    playlist_scope.drop(op.get_bind(), checkfirst=False)
