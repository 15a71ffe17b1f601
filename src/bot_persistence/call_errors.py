"""What a failed call means, read from psycopg's error class (the SQLSTATE), never its text.

psycopg maps every SQLSTATE the server sends to a class of its own
(``LockNotAvailable`` is 55P03, ``DeadlockDetected`` 40P01...), so the one
question asked here is "which class is it". An error with no SQLSTATE at all
came from libpq, not from the server: the connection itself broke.
:func:`bot_persistence.connection.translate_call_error` asks this module first
and handles the connection-level rest.
"""

from __future__ import annotations

import psycopg
from psycopg import errors as pg

from bot_persistence.errors import (
    BotPersistenceError,
    DeadlockError,
    DiskFullError,
    InsufficientPrivilegeError,
    LockTimeoutError,
    SerializationError,
    StatementTimeoutError,
)
from bot_persistence.settings import Settings

__all__ = ["connection_broke", "missing_grant", "privilege_error", "server_error"]

#: Errors the server sends as it closes the session: the connection is gone.
_SESSION_ENDED = (pg.AdminShutdown, pg.CrashShutdown, pg.CannotConnectNow)

#: Statements only a table's owner may run: the migration role's, not a GRANT away.
_SCHEMA_VERBS = ("CREATE", "ALTER", "DROP", "COMMENT")

#: Statement verbs whose privilege has the same name (GRANT SELECT, GRANT INSERT...).
_VERBS = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


def connection_broke(exc: psycopg.Error) -> bool:
    """True when the connection is gone: libpq lost it (no SQLSTATE) or the server ended it."""
    return exc.sqlstate is None or isinstance(exc, _SESSION_ENDED)


def missing_grant(statement: str | None) -> str:
    """The privilege a refused ``statement`` needs, as the GRANT names it.

    The verb is read from the statement we sent (our own SQL, not the server's
    words); without one, the set the bot's runtime role needs on its tables.
    """
    verb = _verb(statement)
    return verb if verb in _VERBS else "SELECT, INSERT, UPDATE, DELETE"


def _verb(statement: str | None) -> str:
    words = (statement or "").split(None, 1)
    return words[0].upper() if words else ""


def privilege_error(
    exc: psycopg.Error, settings: Settings, *, statement: str | None = None
) -> InsufficientPrivilegeError:
    """The missing GRANT for ``settings.user``, and the command that prints them all."""
    server_said = _first_line(exc)
    if _verb(statement) in _SCHEMA_VERBS:
        return InsufficientPrivilegeError(
            f"role {settings.user!r} may not change the schema of {settings.database!r} "
            f"({server_said}); schema changes run as the tables' owner: run them as a "
            "migration (`bot-db deploy`, with BOT_DB_MIGRATION_URL naming the owner; "
            "docs/production.md, least privilege); nothing was changed"
        )
    return InsufficientPrivilegeError(
        f"role {settings.user!r} lacks a privilege on database {settings.database!r} "
        f"({server_said}); as the tables' owner, run GRANT {missing_grant(statement)} ON "
        f"ALL TABLES IN SCHEMA public TO {settings.user} (docs/production.md, least "
        "privilege, lists every GRANT the bot needs); nothing was changed"
    )


def server_error(
    exc: psycopg.Error, settings: Settings, *, statement: str | None = None
) -> BotPersistenceError | None:
    """Our typed error for what the server said about a call; ``None`` when it is not ours.

    Constraint and data errors return ``None``: the repositories know what they
    mean. So does a broken connection: that is the caller's to tell apart from
    a failed connect.
    """
    database = settings.database
    if isinstance(exc, pg.LockNotAvailable):
        return LockTimeoutError(
            f"a statement on {database!r} waited longer than its lock_timeout for a lock "
            "another session holds (a long transaction, a migration); nothing was "
            "changed: retry, and look in pg_stat_activity for the session holding it"
        )
    if isinstance(exc, pg.DeadlockDetected):
        return DeadlockError(
            f"the server broke a deadlock on {database!r} by cancelling this unit of work; "
            "nothing was changed: run it again (Database.retrying does), and take "
            "row locks in one order everywhere to avoid it"
        )
    if isinstance(exc, pg.SerializationFailure):
        return SerializationError(
            f"a concurrent transaction on {database!r} changed what this unit of work "
            "read; nothing was changed: run it again from its start (Database.retrying does)"
        )
    if isinstance(exc, pg.QueryCanceled):
        return StatementTimeoutError(
            f"a statement on {database!r} ran longer than "
            f"{settings.statement_timeout_ms} ms and was cancelled; nothing was changed: "
            "look for a missing index or raise BOT_DB_STATEMENT_TIMEOUT_MS"
        )
    if isinstance(exc, pg.InsufficientPrivilege):
        return privilege_error(exc, settings, statement=statement)
    if isinstance(exc, pg.DiskFull):
        return DiskFullError(
            f"the disk of the server holding {database!r} is full ({_first_line(exc)}); "
            "free space on the disk of its data directory, nothing was written"
        )
    return None


def _first_line(exc: psycopg.Error) -> str:
    """The server's first line (what it refused), without the password of the URL."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
