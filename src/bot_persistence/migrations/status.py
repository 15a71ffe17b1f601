"""Which revisions a database has and lacks, and the SQL a migration would run.

``bot-db migrations`` lists every revision, oldest first, as applied or
pending (Django's ``showmigrations``, Rails' ``db:migrate:status``);
``bot-db migrate --sql`` prints what ``migrate`` would execute, from Alembic's
offline mode, without connecting, for a reviewer or a DBA who applies it by hand.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

from bot_persistence.errors import ConfigurationError
from bot_persistence.migrations.runner import alembic_config, current_revision, script_directory
from bot_persistence.schema_version import ahead_of_code
from bot_persistence.settings import Settings

__all__ = ["MigrationState", "migration_states", "upgrade_sql"]


@dataclasses.dataclass(frozen=True)
class MigrationState:
    """One revision and whether the database has it."""

    revision: str
    down_revision: str | None
    message: str
    applied: bool
    current: bool
    head: bool

    def as_dict(self) -> dict[str, object]:
        """For ``--json``."""
        return dataclasses.asdict(self)


def migration_states(settings: Settings) -> list[MigrationState]:
    """Every revision from base to head, marked applied up to the database's revision."""
    script = script_directory(settings)
    at = current_revision(settings)
    known = {rev.revision for rev in script.walk_revisions("base", "heads")}
    if at is not None and at not in known:
        # A database ahead of the code: the one line `check` gives, not Alembic's
        # "No such revision" traceback, exactly when a user reaches for this list.
        raise ahead_of_code(
            settings.database,
            at,
            Path(script.versions),
            development=settings.environment != "production",
        )
    applied: set[str] = set()
    if at is not None:
        applied = {rev.revision for rev in script.iterate_revisions(at, "base")}
    heads = set(script.get_heads())
    ordered = list(script.walk_revisions("base", "heads"))
    ordered.reverse()  # walk_revisions goes from the heads down
    states = []
    for rev in ordered:
        down = rev.down_revision
        states.append(
            MigrationState(
                revision=rev.revision,
                down_revision=down if isinstance(down, str) or down is None else ",".join(down),
                message=(rev.doc or "").strip().splitlines()[0] if rev.doc else "",
                applied=rev.revision in applied,
                current=rev.revision == at,
                head=rev.revision in heads,
            )
        )
    return states


def upgrade_sql(settings: Settings, target: str = "head") -> str:
    """The SQL an upgrade to ``target`` runs (``FROM:TO`` for a range), without connecting."""
    # Alembic loads here, not with the package: `up` on a database at head never needs it.
    from alembic import command
    from alembic.util import CommandError

    config = alembic_config(settings)
    buffer = io.StringIO()
    config.output_buffer = buffer
    try:
        command.upgrade(config, target, sql=True)
    except CommandError as exc:
        raise ConfigurationError(f"cannot write the SQL for {target!r}: {exc}") from None
    return buffer.getvalue()
