"""Least privilege: what the bot's runtime role needs, granted by the role that owns the tables.

Two roles in production (as Prisma's ``url``/``directUrl``, or any managed
service's "owner" and "app" users): the *owner* runs the migrations
(``BOT_DB_MIGRATION_URL``) and owns every table; the *runtime* role the bot
connects as (``DATABASE_URL``) may read and write rows and nothing more: no
DDL, no TRUNCATE, no writing ``alembic_version``. A bug or an injected
statement in the bot then cannot drop a table.

:func:`runtime_grants` is the SQL; ``bot-db grants ROLE`` prints it (and with
``--apply`` runs it as the owner). ``ALTER DEFAULT PRIVILEGES`` makes the
grants hold for tables and sequences the owner creates in later migrations,
so a deploy never leaves the bot without a GRANT on a new table.
"""

from __future__ import annotations

import psycopg
from sqlalchemy import Connection, text

from bot_persistence.errors import InsufficientPrivilegeError
from bot_persistence.settings import Settings

__all__ = [
    "DML",
    "apply_grants",
    "migration_privilege_error",
    "quote_identifier",
    "runtime_grants",
]

#: What the runtime role may do to the bot's tables.
DML = "SELECT, INSERT, UPDATE, DELETE"


def quote_identifier(name: str) -> str:
    """``name`` as a PostgreSQL identifier, quoted (a role or database named by the user)."""
    return '"' + name.replace('"', '""') + '"'


def runtime_grants(role: str, *, database: str, owner: str, schema: str = "public") -> list[str]:
    """The statements that let ``role`` run the bot against tables ``owner`` creates.

    Run them as ``owner`` (only a table's owner may grant on it, and
    ``ALTER DEFAULT PRIVILEGES FOR ROLE`` names whose future tables it covers).
    Idempotent: running them again changes nothing.
    """
    who, by, where = quote_identifier(role), quote_identifier(owner), quote_identifier(schema)
    return [
        f"GRANT CONNECT ON DATABASE {quote_identifier(database)} TO {who}",
        f"GRANT USAGE ON SCHEMA {where} TO {who}",
        f"GRANT {DML} ON ALL TABLES IN SCHEMA {where} TO {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {where} TO {who}",
        # The bot reads the schema's revision at start-up; only migrations write it.
        f"REVOKE INSERT, UPDATE, DELETE ON {where}.alembic_version FROM {who}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {by} IN SCHEMA {where} GRANT {DML} ON TABLES TO {who}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {by} IN SCHEMA {where} "
        f"GRANT USAGE, SELECT ON SEQUENCES TO {who}",
    ]


def apply_grants(conn: Connection, statements: list[str]) -> None:
    """Run ``statements`` on ``conn`` in one transaction (all or none), committed."""
    with conn.begin():
        for statement in statements:
            conn.execute(text(statement))


def migration_privilege_error(
    exc: BaseException, settings: Settings
) -> InsufficientPrivilegeError | None:
    """When a migration failed for want of a privilege: the role, and the way out.

    A runtime role without DDL rights (as it should be) cannot migrate; the
    fix is the owner's URL, not a change to the migration.
    """
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        original = getattr(current, "orig", None)
        for candidate in (current, original):
            if isinstance(candidate, psycopg.errors.InsufficientPrivilege):
                server_said = str(candidate).strip().splitlines()[0]
                return InsufficientPrivilegeError(
                    f"role {settings.user!r} may not change the schema of "
                    f"{settings.database!r} ({server_said}); migrate as the role that owns "
                    "the tables: set BOT_DB_MIGRATION_URL to its URL (docs/production.md, "
                    "least privilege); nothing was applied by the failed revision"
                )
        current = current.__cause__ or current.__context__
    return None
