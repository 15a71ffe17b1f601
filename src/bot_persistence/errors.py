"""Every error bot-persistence raises on purpose, in one tree.

Library code raises these; only the command line turns them into one line of
text and an exit code. Each message says what happened, to what, and what to
do next, and never contains a password::

    BotPersistenceError                 exit 1 unless noted
    ├── ConfigurationError              exit 2: bad settings or input
    │   ├── InvalidSettingError         a setting's value is wrong (also a ValueError)
    │   ├── SnapshotNameError           a snapshot name breaks the naming rule
    │   ├── InvalidDatabaseUrlError
    │   ├── GuardRefusedError           a destructive command was refused
    │   ├── PoolerModeError             a pooler mode transactions cannot run in
    │   ├── InsufficientPrivilegeError  the role lacks a GRANT; names it
    │   └── PackageDataMissingError     the install has no migrations (a broken build)
    ├── ProvisionError                  getting a server running failed
    │   ├── BackendUnavailableError     this backend cannot run here
    │   │   ├── DockerNotInstalledError exit 2: no docker / compose client
    │   │   └── DockerEngineDownError   exit 2: the engine does not answer
    │   ├── ImageUnavailableError       exit 2: image absent, no registry
    │   ├── PortInUseError
    │   │   └── ForeignServerError      another checkout's server holds the port
    │   └── ServerStartError
    ├── DatabaseUnavailableError        the server cannot be used
    │   ├── ServerNotRunningError
    │   ├── AuthenticationFailedError
    │   ├── TlsUnavailableError         the URL demands TLS the server does not offer
    │   ├── DatabaseMissingError
    │   ├── ConnectionLostError         the server went away during a call
    │   ├── CommitOutcomeUnknownError   it went away during COMMIT: done or not, unknown
    │   ├── LockTimeoutError            a lock was not granted within lock_timeout
    │   ├── DeadlockError               retryable: the server broke a deadlock
    │   ├── SerializationError          retryable: a concurrent transaction won
    │   ├── PoolExhaustedError          no pooled connection became free in time
    │   ├── StatementTimeoutError       a statement ran past statement_timeout
    │   ├── DatabaseClosedError         the bot's Database is shut down
    │   ├── DatabaseInUseError          other sessions hold the database
    │   └── DiskFullError               no space left where the server writes
    ├── SnapshotError                   a dev-database snapshot cannot be saved/restored
    ├── SchemaError
    │   ├── SchemaNotAtHeadError        the database is behind the code
    │   ├── SchemaAheadOfCodeError      the database has a revision the code lacks
    │   ├── MigrationFailedError
    │   └── MigrationCheckError         the roundtrip or a lint found a problem
    ├── SeedError
    ├── SmokeFailedError                a step of `bot-db smoke` failed
    └── RepositoryError                 the bot's data calls
        ├── NotFoundError
        ├── AlreadyExistsError
        ├── PermissionDeniedError       the user may not change that playlist
        └── InvalidInputError           exit 2
            ├── MalformedImportError    not a playlist document we can read
            └── ImportTooLargeError     more tracks or bytes than an import takes

Driver errors are turned into these at one boundary: a failed connect by
:func:`bot_persistence.connection.translate_connect_error`, a failed call by
:func:`bot_persistence.connection.translate_call_error`, which reads psycopg's
error class (its SQLSTATE), never the message.

``retryable`` is true on an error whose unit of work, run again from its
start, may well succeed (a deadlock, a serialization failure):
:meth:`bot_persistence.Database.retrying` does that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "AlreadyExistsError",
    "AuthenticationFailedError",
    "BackendUnavailableError",
    "BotPersistenceError",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "ConnectionLostError",
    "DatabaseClosedError",
    "DatabaseInUseError",
    "DatabaseMissingError",
    "DatabaseUnavailableError",
    "DeadlockError",
    "DiskFullError",
    "DockerEngineDownError",
    "DockerNotInstalledError",
    "ForeignServerError",
    "GuardRefusedError",
    "ImageUnavailableError",
    "ImportTooLargeError",
    "InsufficientPrivilegeError",
    "InvalidDatabaseUrlError",
    "InvalidInputError",
    "InvalidSettingError",
    "LockTimeoutError",
    "MalformedImportError",
    "MigrationCheckError",
    "MigrationFailedError",
    "NotFoundError",
    "PackageDataMissingError",
    "PermissionDeniedError",
    "PoolExhaustedError",
    "PoolerModeError",
    "PortInUseError",
    "ProvisionError",
    "RepositoryError",
    "SchemaAheadOfCodeError",
    "SchemaError",
    "SchemaNotAtHeadError",
    "SeedError",
    "SerializationError",
    "ServerNotRunningError",
    "ServerStartError",
    "SmokeFailedError",
    "SnapshotError",
    "SnapshotNameError",
    "StatementTimeoutError",
    "TlsUnavailableError",
]


class BotPersistenceError(Exception):
    """Root of every error raised on purpose; its message is one actionable line."""

    exit_code: int = 1
    #: True when running the unit of work again, from its start, may succeed.
    retryable: bool = False


class ConfigurationError(BotPersistenceError):
    """A setting or an argument is wrong; the user must change it."""

    exit_code = 2


class InvalidSettingError(ConfigurationError, ValueError):
    """A setting's value is wrong: ``Settings()`` raises this, naming the setting, never
    its value.

    Also a ``ValueError``, as pydantic's ``ValidationError`` (which it replaces)
    was, so callers that caught that still catch it.
    """


class SnapshotNameError(ConfigurationError):
    """A snapshot name the rule refuses (``..``, ``/``, a newline, too long): a usage error,
    said before anything is read or written."""


class InvalidDatabaseUrlError(ConfigurationError):
    """``DATABASE_URL`` cannot be parsed, or names a database we cannot speak to."""


class GuardRefusedError(ConfigurationError):
    """A destructive command was refused: a non-local host, production, or no consent."""


class PoolerModeError(ConfigurationError):
    """The connection goes through a pooler in a mode the bot cannot work in.

    PgBouncer's statement pooling hands every statement to any server
    connection, so a unit of work (a transaction) cannot exist there.
    """


class InsufficientPrivilegeError(ConfigurationError):
    """The role in the URL lacks a privilege a call needs (SQLSTATE 42501).

    The runtime role of a least-privilege setup is missing a GRANT: the message
    names the privilege and the command that prints the full set
    (``bot-db grants ROLE``). Nothing was changed.
    """


class PackageDataMissingError(ConfigurationError):
    """The installed package lacks its migrations or seeds: the wheel was built wrongly."""


class ProvisionError(BotPersistenceError):
    """A backend could not give us a running server."""


class BackendUnavailableError(ProvisionError):
    """The chosen backend cannot run on this machine (no binaries, no Docker engine)."""

    exit_code = 2


class DockerNotInstalledError(BackendUnavailableError):
    """A container backend was chosen, but the Docker client or Compose is not installed."""


class DockerEngineDownError(BackendUnavailableError):
    """The Docker client is installed, but no engine answers it (not started, no permission)."""


class ImageUnavailableError(ProvisionError):
    """The PostgreSQL image is not on this machine and could not be pulled from a registry."""

    exit_code = 2


class PortInUseError(ProvisionError):
    """The configured port is taken by a program that is not our server.

    Built from the port alone, so that every backend says it in the same words.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        super().__init__(
            f"port {port} on 127.0.0.1 is used by another program; set POSTGRES_PORT in .env "
            "to a free port"
        )

    def __reduce__(self) -> tuple[type[PortInUseError], tuple[int]]:
        # Rebuilt from the port (not the message) when pickled across processes.
        return (type(self), (self.port,))


class ForeignServerError(PortInUseError):
    """The configured port is served by a PostgreSQL that is not this checkout's dev server.

    Nothing reads or writes it: it holds someone else's data. The message names
    whose it is (its data directory), where that can be seen.
    """

    def __init__(self, port: int, message: str) -> None:
        self.port = port
        self.message = message
        BotPersistenceError.__init__(self, message)

    def __reduce__(self) -> tuple[type[PortInUseError], tuple[int, str]]:  # type: ignore[override]
        return (type(self), (self.port, self.message))


class ServerStartError(ProvisionError):
    """The server process did not come up; the message points at its log."""


class DatabaseUnavailableError(BotPersistenceError):
    """The server or the database cannot be used right now."""


class ServerNotRunningError(DatabaseUnavailableError):
    """Nothing answers at the configured host and port."""


class AuthenticationFailedError(DatabaseUnavailableError):
    """The server refused the user name or password from settings."""


class TlsUnavailableError(DatabaseUnavailableError):
    """The URL's ``sslmode`` demands TLS, and the server does not offer it."""


class DatabaseMissingError(DatabaseUnavailableError):
    """The server runs, but the configured database does not exist on it."""


class ConnectionLostError(DatabaseUnavailableError):
    """The server closed the connection during a call (it restarted or went away).

    The unit of work was rolled back; the next call gets a fresh connection.
    """


class CommitOutcomeUnknownError(DatabaseUnavailableError):
    """The connection was lost while ``COMMIT`` was on its way: it may or may not have happened.

    Unlike :class:`ConnectionLostError` the unit of work may be committed. Read
    the rows back before doing it again, unless doing it twice is harmless.
    """


class LockTimeoutError(DatabaseUnavailableError):
    """A statement waited longer than ``lock_timeout`` for a lock (SQLSTATE 55P03).

    Another session holds the lock (a long transaction, a migration); the unit
    of work was rolled back. The migration runner retries its own with back-off.
    """


class DeadlockError(DatabaseUnavailableError):
    """The server broke a deadlock by cancelling this unit of work (SQLSTATE 40P01).

    Retryable: run the unit again from its start (:meth:`Database.retrying`).
    """

    retryable = True


class SerializationError(DatabaseUnavailableError):
    """A concurrent transaction changed what this one read (SQLSTATE 40001).

    Raised under ``REPEATABLE READ`` or ``SERIALIZABLE``. Retryable: run the
    unit again from its start (:meth:`Database.retrying`).
    """

    retryable = True


class PoolExhaustedError(DatabaseUnavailableError):
    """Every pooled connection stayed busy for ``BOT_DB_POOL_TIMEOUT`` seconds."""


class StatementTimeoutError(DatabaseUnavailableError):
    """A statement ran longer than ``BOT_DB_STATEMENT_TIMEOUT_MS`` and was cancelled."""


class DatabaseClosedError(DatabaseUnavailableError):
    """A unit of work was asked of a :class:`~bot_persistence.db.Database` that is closed."""


class DatabaseInUseError(DatabaseUnavailableError):
    """Other sessions are connected to a database that must have none (to copy or replace it)."""


class DiskFullError(DatabaseUnavailableError):
    """The disk under the server's data directory is full; the message says where."""


class SnapshotError(BotPersistenceError):
    """A snapshot is missing, exists already, or has a name PostgreSQL cannot hold."""


class SchemaError(BotPersistenceError):
    """The database schema is not what the code expects."""


class SchemaNotAtHeadError(SchemaError):
    """The database's Alembic revision is not the newest one; run ``bot-db migrate``."""


class SchemaAheadOfCodeError(SchemaError):
    """The database is stamped with a revision this code's migrations do not have.

    It was migrated by newer code (another git branch, a newer release), so
    Alembic cannot find the revision, to upgrade from it or downgrade. The
    message names the revision, where it comes from when that can be told, and
    the way out; ``revision`` holds the id. In a development checkout,
    ``database`` and ``checkout`` let the tooling ask git where the revision
    came from (the bot's process never does).
    """

    def __init__(
        self,
        message: str,
        *,
        revision: str = "",
        database: str = "",
        checkout: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.revision = revision
        self.database = database
        self.checkout = checkout


class MigrationFailedError(SchemaError):
    """A migration raised; the database stays at the revision before it."""


class MigrationCheckError(SchemaError):
    """The migration history failed a check (heads, roundtrip, drift, lint) or is malformed.

    The message is one line; the roundtrip's report holds the detail of each finding.
    """


class SeedError(BotPersistenceError):
    """A seed file is missing, malformed, or refers to rows that do not exist."""


class SmokeFailedError(BotPersistenceError):
    """A step of ``bot-db smoke`` failed; ``step`` names it, the message says why."""

    def __init__(self, step: str, message: str, *, exit_code: int = 1) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.detail = message
        #: The cause's own: a configuration error stops the smoke test with 2, as anywhere.
        self.exit_code = exit_code


class RepositoryError(BotPersistenceError):
    """A data call of the bot's could not be carried out; nothing was changed."""


class NotFoundError(RepositoryError):
    """The row asked for does not exist."""


class AlreadyExistsError(RepositoryError):
    """A row with the same natural key exists already."""


class InvalidInputError(RepositoryError):
    """An argument is out of range, too long, or of the wrong kind."""

    exit_code = 2


class PermissionDeniedError(RepositoryError):
    """The user asking (``by=``) may not change that playlist: not its owner, no edit share."""


class MalformedImportError(InvalidInputError):
    """An imported playlist document is not JSON, not ``bot-persistence.playlist/1``, or has a
    field that is wrong; the message names it. Nothing was written."""


class ImportTooLargeError(InvalidInputError):
    """An imported playlist document holds more tracks (or bytes) than an import takes.

    Nothing was written; split the playlist, or raise the repository's ``max_tracks``.
    """
