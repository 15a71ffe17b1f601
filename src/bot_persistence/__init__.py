"""bot-persistence: PostgreSQL persistence for a Discord music bot.

The public API is re-exported here; everything else is internal. The async
data layer (``Database`` and the repositories) loads on first use, so the
``bot-db`` command line does not pay for asyncio and the ORM on every start;
so does ``Settings``, so that ``bot-db`` can set up its signal handling before
pydantic and SQLAlchemy load (an early Ctrl-C is one line too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot_persistence.errors import (
    AlreadyExistsError,
    AuthenticationFailedError,
    BackendUnavailableError,
    BotPersistenceError,
    ConfigurationError,
    ConnectionLostError,
    DatabaseClosedError,
    DatabaseInUseError,
    DatabaseMissingError,
    DatabaseUnavailableError,
    DiskFullError,
    DockerEngineDownError,
    DockerNotInstalledError,
    ForeignServerError,
    GuardRefusedError,
    ImageUnavailableError,
    ImportTooLargeError,
    InvalidDatabaseUrlError,
    InvalidInputError,
    InvalidSettingError,
    MalformedImportError,
    MigrationCheckError,
    MigrationFailedError,
    NotFoundError,
    PackageDataMissingError,
    PermissionDeniedError,
    PoolerModeError,
    PoolExhaustedError,
    PortInUseError,
    ProvisionError,
    RepositoryError,
    SchemaAheadOfCodeError,
    SchemaError,
    SchemaNotAtHeadError,
    SeedError,
    ServerNotRunningError,
    ServerStartError,
    SmokeFailedError,
    SnapshotError,
    StatementTimeoutError,
    TlsUnavailableError,
)

if TYPE_CHECKING:
    from bot_persistence.db import Database
    from bot_persistence.repositories import (
        GuildSettingsRepository,
        HistoryRepository,
        PlaylistRepository,
        QueueRepository,
        QueueState,
        TrackInput,
        UserPreferencesRepository,
    )
    from bot_persistence.settings import Settings

#: Public names that live in modules loaded on first use, and those modules.
_LAZY = {
    "Database": "bot_persistence.db",
    "GuildSettingsRepository": "bot_persistence.repositories",
    "HistoryRepository": "bot_persistence.repositories",
    "PlaylistRepository": "bot_persistence.repositories",
    "QueueRepository": "bot_persistence.repositories",
    "QueueState": "bot_persistence.repositories",
    "Settings": "bot_persistence.settings",
    "TrackInput": "bot_persistence.repositories",
    "UserPreferencesRepository": "bot_persistence.repositories",
}


def __getattr__(name: str) -> Any:
    """Load the async data layer when one of its names is first asked for (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bot_persistence' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AlreadyExistsError",
    "AuthenticationFailedError",
    "BackendUnavailableError",
    "BotPersistenceError",
    "ConfigurationError",
    "ConnectionLostError",
    "Database",
    "DatabaseClosedError",
    "DatabaseInUseError",
    "DatabaseMissingError",
    "DatabaseUnavailableError",
    "DiskFullError",
    "DockerEngineDownError",
    "DockerNotInstalledError",
    "ForeignServerError",
    "GuardRefusedError",
    "GuildSettingsRepository",
    "HistoryRepository",
    "ImageUnavailableError",
    "ImportTooLargeError",
    "InvalidDatabaseUrlError",
    "InvalidInputError",
    "InvalidSettingError",
    "MalformedImportError",
    "MigrationCheckError",
    "MigrationFailedError",
    "NotFoundError",
    "PackageDataMissingError",
    "PermissionDeniedError",
    "PlaylistRepository",
    "PoolExhaustedError",
    "PoolerModeError",
    "PortInUseError",
    "ProvisionError",
    "QueueRepository",
    "QueueState",
    "RepositoryError",
    "SchemaAheadOfCodeError",
    "SchemaError",
    "SchemaNotAtHeadError",
    "SeedError",
    "ServerNotRunningError",
    "ServerStartError",
    "Settings",
    "SmokeFailedError",
    "SnapshotError",
    "StatementTimeoutError",
    "TlsUnavailableError",
    "TrackInput",
    "UserPreferencesRepository",
]
