"""The health probe: reachable, authenticated, database present, schema at head.

A schema at a revision this checkout does not have is reported as such
(:class:`~bot_persistence.errors.SchemaAheadOfCodeError`), not as "behind".

One structured report that ``bot-db check`` prints (or emits as JSON) and that
``bot-db up`` runs last. Each failed step carries the typed error whose message
says what to do. It reads the head and the database's revision with
:mod:`bot_persistence.schema_version`, so ``check`` never loads Alembic.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import psycopg

from bot_persistence.connection import disk_full_error, translate_connect_error
from bot_persistence.devdb import git
from bot_persistence.devdb.target import Target
from bot_persistence.errors import (
    AuthenticationFailedError,
    BotPersistenceError,
    DatabaseMissingError,
    SchemaAheadOfCodeError,
    SchemaError,
)
from bot_persistence.project import versions_dir
from bot_persistence.schema_version import (
    ahead_of_code,
    check_schema,
    database_revision,
    known_revisions,
    single_head,
)
from bot_persistence.settings import Settings, is_local_host

__all__ = [
    "ConnectionUse",
    "HealthReport",
    "connection_use",
    "probe",
    "require_known_revision",
]


@dataclasses.dataclass(frozen=True)
class ConnectionUse:
    """The server's connection budget and how much of it is taken now."""

    max_connections: int
    reserved: int
    in_use: int

    @property
    def available(self) -> int:
        """Connections ordinary roles can still open."""
        return self.max_connections - self.reserved - self.in_use

    def describe(self) -> str:
        """``12 of max_connections 100 in use (3 reserved for superusers, 85 free)``."""
        return (
            f"{self.in_use} of max_connections {self.max_connections} in use "
            f"({self.reserved} reserved for superusers, {max(self.available, 0)} free)"
        )


def connection_use(target: Target) -> ConnectionUse | None:
    """``max_connections`` and the sessions open now; ``None`` when the server cannot say.

    Every shard's pool draws on this budget (docs/production.md sizes it).
    """
    try:
        row = (
            target.connection()
            .execute(
                "SELECT current_setting('max_connections')::int, "
                "current_setting('superuser_reserved_connections')::int, "
                "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
            )
            .fetchone()
        )
    except Exception:  # status shows what it can; the probe reports the failure itself
        return None
    if row is None:  # pragma: no cover - one row, always
        return None
    return ConnectionUse(max_connections=row[0], reserved=row[1], in_use=row[2])


@dataclasses.dataclass(frozen=True)
class HealthReport:
    """What the probe found; ``error`` is set exactly when ``ok`` is false."""

    url: str
    reachable: bool = False
    authenticated: bool = False
    database_present: bool = False
    revision: str | None = None
    head: str | None = None
    server_version: str | None = None
    elapsed_ms: float = 0.0
    error: BotPersistenceError | None = None

    @property
    def at_head(self) -> bool:
        """True when the schema is at the newest revision."""
        return self.database_present and self.revision == self.head

    @property
    def ok(self) -> bool:
        """True when every step passed."""
        return self.error is None

    @property
    def exit_code(self) -> int:
        """0 when every step passed; else the error's own: 1 for a failed check, 2 for a
        configuration error (a statement pooler, a bad URL), as every command exits."""
        return 0 if self.error is None else self.error.exit_code

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view, for ``--json``."""
        return {
            "ok": self.ok,
            "url": self.url,
            "reachable": self.reachable,
            "authenticated": self.authenticated,
            "database_present": self.database_present,
            "revision": self.revision,
            "head": self.head,
            "at_head": self.at_head,
            "server_version": self.server_version,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "error": str(self.error) if self.error else None,
            "error_type": type(self.error).__name__ if self.error else None,
        }


def _server_data_directory(conn: psycopg.Connection[Any]) -> Path | None:
    """The server's data directory when it is readable here (a superuser, a local server)."""
    try:
        found = conn.execute("SHOW data_directory").fetchone()
    except psycopg.Error:  # not allowed to see it (production roles): nothing to check
        return None
    if found is None:  # pragma: no cover - SHOW answers one row
        return None
    path = Path(str(found[0]))
    return path if path.exists() else None


def _ahead_of_code(settings: Settings, revision: str | None) -> SchemaAheadOfCodeError | None:
    """The error for a revision this checkout lacks; ``None`` for one it has (or none)."""
    versions = versions_dir()
    if revision is None or revision in known_revisions(versions):
        return None
    return git.explain_ahead(
        ahead_of_code(
            settings.database, revision, versions, development=settings.environment != "production"
        )
    )


def require_known_revision(target: Target) -> None:
    """Raise :class:`~bot_persistence.errors.SchemaAheadOfCodeError` when the database is at
    a revision this checkout does not have (before writing to it, as ``seed`` does)."""
    ahead = _ahead_of_code(target.settings, database_revision(target.connection()))
    if ahead is not None:
        raise ahead


def probe(target: Target) -> HealthReport:
    """Run the probe once, without retrying: it answers "is it usable now?".

    On the target's connection: after ``up`` it is the session that migrated
    and seeded; for ``check`` it is the only one the command opens.
    """
    settings = target.settings
    started = time.perf_counter()
    report = HealthReport(url=settings.masked_url)

    def done(**changes: object) -> HealthReport:
        elapsed = (time.perf_counter() - started) * 1000
        return dataclasses.replace(report, elapsed_ms=elapsed, **changes)  # type: ignore[arg-type]

    try:
        head = single_head(versions_dir())
    except BotPersistenceError as exc:
        return done(error=exc)
    report = dataclasses.replace(report, head=head)
    full = disk_full_error(settings.data_dir) if settings.data_dir.exists() else None
    if full is not None:
        return done(error=full)
    try:
        conn = target.connection()
    except BotPersistenceError as error:
        reachable = isinstance(error, AuthenticationFailedError | DatabaseMissingError)
        return done(
            reachable=reachable,
            authenticated=isinstance(error, DatabaseMissingError),
            error=error,
        )
    try:
        version = conn.execute("SHOW server_version").fetchone()
        revision = database_revision(conn)
        local = is_local_host(settings.host)
        data_directory = _server_data_directory(conn) if local else None
    except BotPersistenceError as exc:  # connected, but the stamp is not one revision
        return done(reachable=True, authenticated=True, database_present=True, error=exc)
    except psycopg.Error as exc:  # the session went away between two questions
        return done(error=translate_connect_error(exc, settings))
    report = dataclasses.replace(
        report,
        reachable=True,
        authenticated=True,
        database_present=True,
        revision=revision,
        server_version=str(version[0]) if version else None,
    )
    full = disk_full_error(data_directory) if data_directory is not None else None
    if full is not None:
        return done(error=full)
    if revision != head:
        try:
            check_schema(
                revision,
                versions_dir(),
                database=settings.database,
                development=settings.environment != "production",
            )
        except SchemaAheadOfCodeError as exc:
            return done(error=git.explain_ahead(exc))
        except SchemaError as exc:
            return done(error=exc)
    return done()
