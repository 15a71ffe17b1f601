"""bot-persistence: PostgreSQL persistence for a Discord music bot.

The public API is re-exported here; everything else is internal.
"""

from bot_persistence.db import Database
from bot_persistence.errors import (
    AlreadyExistsError,
    AuthenticationFailedError,
    BackendUnavailableError,
    BotPersistenceError,
    ConfigurationError,
    ConnectionLostError,
    DatabaseClosedError,
    DatabaseMissingError,
    DatabaseUnavailableError,
    GuardRefusedError,
    InvalidDatabaseUrlError,
    InvalidInputError,
    MigrationFailedError,
    NotFoundError,
    PoolExhaustedError,
    PortInUseError,
    ProvisionError,
    RepositoryError,
    SchemaError,
    SchemaNotAtHeadError,
    SeedError,
    ServerNotRunningError,
    ServerStartError,
    SmokeFailedError,
    StatementTimeoutError,
)
from bot_persistence.repositories import (
    GuildSettingsRepository,
    PlaylistRepository,
    TrackInput,
    UserPreferencesRepository,
)
from bot_persistence.settings import Settings

__all__ = [
    "AlreadyExistsError",
    "AuthenticationFailedError",
    "BackendUnavailableError",
    "BotPersistenceError",
    "ConfigurationError",
    "ConnectionLostError",
    "Database",
    "DatabaseClosedError",
    "DatabaseMissingError",
    "DatabaseUnavailableError",
    "GuardRefusedError",
    "GuildSettingsRepository",
    "InvalidDatabaseUrlError",
    "InvalidInputError",
    "MigrationFailedError",
    "NotFoundError",
    "PlaylistRepository",
    "PoolExhaustedError",
    "PortInUseError",
    "ProvisionError",
    "RepositoryError",
    "SchemaError",
    "SchemaNotAtHeadError",
    "SeedError",
    "ServerNotRunningError",
    "ServerStartError",
    "Settings",
    "SmokeFailedError",
    "StatementTimeoutError",
    "TrackInput",
    "UserPreferencesRepository",
]
