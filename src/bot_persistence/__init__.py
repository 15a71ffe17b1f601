"""bot-persistence: PostgreSQL persistence for a Discord music bot.

The public API is re-exported here; everything else is internal.
"""

from bot_persistence.errors import (
    AlreadyExistsError,
    AuthenticationFailedError,
    BackendUnavailableError,
    BotPersistenceError,
    ConfigurationError,
    DatabaseMissingError,
    DatabaseUnavailableError,
    DockerEngineDownError,
    DockerNotInstalledError,
    GuardRefusedError,
    ImageUnavailableError,
    InvalidDatabaseUrlError,
    InvalidInputError,
    MigrationFailedError,
    NotFoundError,
    PortInUseError,
    ProvisionError,
    RepositoryError,
    SchemaError,
    SchemaNotAtHeadError,
    SeedError,
    ServerNotRunningError,
    ServerStartError,
)
from bot_persistence.settings import Settings

__all__ = [
    "AlreadyExistsError",
    "AuthenticationFailedError",
    "BackendUnavailableError",
    "BotPersistenceError",
    "ConfigurationError",
    "DatabaseMissingError",
    "DatabaseUnavailableError",
    "DockerEngineDownError",
    "DockerNotInstalledError",
    "GuardRefusedError",
    "ImageUnavailableError",
    "InvalidDatabaseUrlError",
    "InvalidInputError",
    "MigrationFailedError",
    "NotFoundError",
    "PortInUseError",
    "ProvisionError",
    "RepositoryError",
    "SchemaError",
    "SchemaNotAtHeadError",
    "SeedError",
    "ServerNotRunningError",
    "ServerStartError",
    "Settings",
]
