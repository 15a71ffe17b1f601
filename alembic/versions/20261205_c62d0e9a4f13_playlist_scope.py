"""playlist scope: guild playlists beside users' own

``playlists`` gains ``scope`` (enum ``playlist_scope``: ``user`` or
``guild``); ``owner_id`` may now be NULL (a guild playlist whose creator asked
to be forgotten stays the guild's), and a CHECK says each scope has its key.
The expand step of the change; the next revision
(``2d7b8e4f6a90``) makes names unique per scope. Written so a busy
``playlists`` table keeps serving the bot:

- ``scope`` is added NOT NULL with a constant DEFAULT ``'user'``: PostgreSQL
  records the default in the catalogue and every existing row reads it, with
  no rewrite and no UPDATE. That *is* the backfill: every playlist made before
  this revision is a user's (a batched UPDATE would rewrite each row to the
  value it already reads). Old code inserting without ``scope`` gets ``user``
  too, which is what it means.
- dropping NOT NULL on ``owner_id`` is a catalogue change.
- the CHECK is added NOT VALID (no scan under the ACCESS EXCLUSIVE lock); the
  next revision validates it outside a transaction, under a lock that lets
  reads and writes go on.

Everything here is transactional: a failure leaves the revision before it.

Revision ID: c62d0e9a4f13
Revises: 8a4e6c2d1b57
Create Date: 2026-12-05 04:42:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c62d0e9a4f13"
down_revision: str | Sequence[str] | None = "8a4e6c2d1b57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# squawk: rules this revision breaks on purpose, each with why it is safe here.
squawk_exemptions = {
    "ban-drop-not-null": (
        "only guild playlists of forgotten users get a NULL owner, written by new code; "
        "old code lists playlists by owner and never meets one"
    ),
}

playlist_scope = postgresql.ENUM("user", "guild", name="playlist_scope", create_type=False)

SCOPE_HAS_ITS_KEY = (
    "scope = 'user' AND owner_id IS NOT NULL OR scope = 'guild' AND guild_id IS NOT NULL"
)


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


def downgrade() -> None:
    # A guild playlist whose owner was forgotten has no user to belong to again.
    op.execute("DELETE FROM playlists WHERE owner_id IS NULL")
    op.drop_constraint(op.f("ck_playlists_scope_has_its_key"), "playlists", type_="check")
    op.alter_column("playlists", "owner_id", existing_type=sa.BigInteger(), nullable=False)
    op.drop_column("playlists", "scope")
    playlist_scope.drop(op.get_bind(), checkfirst=False)
