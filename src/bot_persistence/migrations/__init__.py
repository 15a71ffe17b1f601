"""The migration tooling: Alembic driven from Python, and the checks on our revisions.

``runner`` upgrades under the migration lock, downgrades and autogenerates,
``status`` lists applied and pending revisions and writes upgrade SQL (their
API is re-exported here); ``deploy`` plans and runs a production deploy
(``bot-db deploy``); ``roundtrip`` proves every revision up, down and up
again with ``stairway`` and ``schema_compare``; ``sql_lint`` runs squawk on
each revision's SQL. The bot's process never imports this package
unless it migrates on start-up (see ``bot_persistence.schema_version``).
"""

from bot_persistence.migrations.runner import (
    MIGRATION_LOCK_KEY,
    MigrationResult,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    new_revision,
    script_directory,
    upgrade,
)
from bot_persistence.migrations.status import MigrationState, migration_states, upgrade_sql

__all__ = [
    "MIGRATION_LOCK_KEY",
    "MigrationResult",
    "MigrationState",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "migration_states",
    "new_revision",
    "script_directory",
    "upgrade",
    "upgrade_sql",
]
