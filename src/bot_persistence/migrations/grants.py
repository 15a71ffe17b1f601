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

from sqlalchemy import Connection, text

__all__ = ["DML", "apply_grants", "quote_identifier", "runtime_grants"]

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
