"""All configuration, read once from the environment and ``.env``, then passed down.

``DATABASE_URL`` wins when it is set; otherwise the URL is built from the
``POSTGRES_*`` parts, the same names the official PostgreSQL image and
``compose/docker-compose.yml`` use. Everything that is ours alone is a
``BOT_DB_*`` variable. Defaults are safe for development and are listed, with a
comment each, in ``.env.example`` (``nox -s docs-check`` proves the two agree).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot_persistence.database_url import DatabaseUrl
from bot_persistence.errors import InvalidSettingError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["BackendName", "Environment", "ImagePull", "PoolerMode", "Settings", "is_local_host"]

BackendName = Literal["auto", "embedded", "docker", "compose", "external"]
Environment = Literal["development", "test", "production"]
#: When the container backends may pull an absent PostgreSQL image from a registry.
ImagePull = Literal["missing", "never"]
#: What sits between the bot and PostgreSQL: nothing, or PgBouncer in one of its
#: pool modes. ``statement`` is accepted here so that using it fails with a line
#: that says why (:func:`bot_persistence.connection.connect_kwargs`).
PoolerMode = Literal["none", "session", "transaction", "statement"]


def _env(name: str) -> AliasChoices:
    """Read a field from exactly this environment variable (and its field name in code)."""
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Where the database is, how to reach it, and how the tool behaves.

    Build it with ``Settings()`` to read the environment and ``.env``, or pass
    values directly (``Settings(postgres_port=5999)``) in tests and scripts.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
        # A rejected value may be a password: a validation error names the setting only.
        hide_input_in_errors=True,
    )

    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=_env("DATABASE_URL"),
        description="Full connection URL; when set it wins over the POSTGRES_* parts.",
    )
    migration_url: SecretStr | None = Field(
        default=None,
        validation_alias=_env("BOT_DB_MIGRATION_URL"),
        description="URL of the role that owns the tables, for deploy and the start-up "
        "migration (as Prisma's directUrl); unset: DATABASE_URL's role migrates.",
    )
    postgres_host: str = Field(default="127.0.0.1", validation_alias=_env("POSTGRES_HOST"))
    postgres_port: int = Field(default=5433, ge=1, le=65535, validation_alias=_env("POSTGRES_PORT"))
    postgres_db: str = Field(default="bot", min_length=1, validation_alias=_env("POSTGRES_DB"))
    postgres_user: str = Field(default="bot", min_length=1, validation_alias=_env("POSTGRES_USER"))
    postgres_password: SecretStr = Field(
        default=SecretStr("bot-dev-password"), validation_alias=_env("POSTGRES_PASSWORD")
    )
    postgres_image: str = Field(default="postgres:18", validation_alias=_env("POSTGRES_IMAGE"))
    image_pull: ImagePull = Field(
        default="missing",
        validation_alias=_env("BOT_DB_IMAGE_PULL"),
        description="missing: pull an absent image, as `docker run` does; never: use only "
        "images on this machine (offline, or a CI that must not reach a registry).",
    )

    backend: BackendName = Field(default="auto", validation_alias=_env("BOT_DB_BACKEND"))
    environment: Environment = Field(
        default="development", validation_alias=_env("BOT_DB_ENVIRONMENT")
    )
    data_dir: Path = Field(default=Path(".devdb"), validation_alias=_env("BOT_DB_DATA_DIR"))
    pool_size: int = Field(default=5, ge=1, le=100, validation_alias=_env("BOT_DB_POOL_SIZE"))
    max_overflow: int = Field(default=5, ge=0, le=100, validation_alias=_env("BOT_DB_MAX_OVERFLOW"))
    pool_timeout: float = Field(default=10.0, gt=0, validation_alias=_env("BOT_DB_POOL_TIMEOUT"))
    pool_recycle: int = Field(default=1800, ge=-1, validation_alias=_env("BOT_DB_POOL_RECYCLE"))
    connect_timeout: int = Field(
        default=5, ge=1, le=300, validation_alias=_env("BOT_DB_CONNECT_TIMEOUT")
    )
    startup_timeout: float = Field(
        default=30.0, gt=0, validation_alias=_env("BOT_DB_STARTUP_TIMEOUT")
    )
    statement_timeout_ms: int = Field(
        default=30_000, ge=0, validation_alias=_env("BOT_DB_STATEMENT_TIMEOUT_MS")
    )
    pooler: PoolerMode = Field(
        default="none",
        validation_alias=_env("BOT_DB_POOLER"),
        description="PgBouncer's pool mode when the URL goes through it (none: direct).",
    )
    application_name: str = Field(
        default="bot-persistence",
        min_length=1,
        max_length=63,
        validation_alias=_env("BOT_DB_APPLICATION_NAME"),
        description="How the bot's connections are named in pg_stat_activity and the "
        "server's log; give each shard its own (bot-persistence/shard-3). An "
        "application_name in DATABASE_URL wins.",
    )
    slow_unit_ms: int = Field(
        default=1000,
        ge=0,
        validation_alias=_env("BOT_DB_SLOW_UNIT_MS"),
        description="A unit of work longer than this is logged and counted as slow (0: never).",
    )
    migrate_on_startup: bool = Field(
        default=False, validation_alias=_env("BOT_DB_MIGRATE_ON_STARTUP")
    )
    history_limit: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        validation_alias=_env("BOT_DB_HISTORY_LIMIT"),
        description="Play-history rows kept per guild; each play trims the oldest beyond it.",
    )
    migration_lock_timeout_ms: int = Field(
        default=2000,
        ge=0,
        validation_alias=_env("BOT_DB_MIGRATION_LOCK_TIMEOUT_MS"),
        description="How long a migration waits for a table lock before it steps aside "
        "and retries (0: forever, which lets it queue the bot's calls behind it).",
    )
    migration_lock_retries: int = Field(
        default=5,
        ge=1,
        le=100,
        validation_alias=_env("BOT_DB_MIGRATION_LOCK_RETRIES"),
        description="Attempts at a revision that keeps timing out on a lock before giving up.",
    )
    migration_statement_timeout_ms: int = Field(
        default=0,
        ge=0,
        validation_alias=_env("BOT_DB_MIGRATION_STATEMENT_TIMEOUT_MS"),
        description="Per-statement limit of a migration (0: none; a backfill may run long).",
    )
    compose_project: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_-]*\z",
        validation_alias=_env("BOT_DB_COMPOSE_PROJECT"),
        description=(
            "Compose project name of the compose backend (names its volume); unset: "
            "derived from the checkout's folder name, as Compose itself does."
        ),
    )
    branch_databases: bool = Field(
        default=True,
        validation_alias=_env("BOT_DB_BRANCH_DATABASES"),
        description="In a git checkout, give each branch its own database on the dev server.",
    )

    def __init__(self, **values: Any) -> None:
        """Read the settings; a wrong value raises :class:`InvalidSettingError`, one line
        naming the setting (never its value), not pydantic's report."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _setting_error(exc) from None
        except UnicodeDecodeError as exc:  # the .env file (the environment cannot raise this)
            raise InvalidSettingError(
                f".env is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                f"{exc.start}); save it as UTF-8"
            ) from None

    @classmethod
    def from_values(cls, **values: Any) -> Settings:
        """Settings from these values and the defaults alone: no environment, no ``.env``.

        For tests and scripts that must not pick up a developer's configuration.
        """
        return _IsolatedSettings(**values)

    @field_validator("database_url", "migration_url", "compose_project", mode="before")
    @classmethod
    def _blank_url_is_unset(cls, value: object) -> object:
        """``DATABASE_URL=`` in ``.env`` means "not set", as a person reading it expects."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _text_is_text(cls, value: object) -> object:
        """An environment value that is not UTF-8 reaches Python with its bytes kept as lone
        surrogates; no connection parameter or file can carry them, so say so here."""
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(
                    "is not UTF-8 text (it holds bytes no character encodes)"
                ) from None
        return value

    @field_validator(
        "postgres_host",
        "postgres_db",
        "postgres_user",
        "postgres_password",
        "application_name",
        mode="before",
    )
    @classmethod
    def _no_nul(cls, value: object) -> object:
        """libpq passes connection parameters as C strings: a NUL would cut them short."""
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("holds a NUL character, which PostgreSQL cannot take; remove it")
        return value

    def for_migrations(self) -> Settings:
        """These settings, connecting as the migration role when ``BOT_DB_MIGRATION_URL`` is set.

        Deploy and the start-up migration use it, so that the bot's own role
        (``DATABASE_URL``) can be DML-only (docs/production.md, least privilege).
        """
        if self.migration_url is None:
            return self
        return self.model_copy(update={"database_url": self.migration_url})

    @property
    def may_pull_images(self) -> bool:
        """True when the container backends may pull an absent image (BOT_DB_IMAGE_PULL)."""
        return self.image_pull == "missing"

    @property
    def parsed_url(self) -> DatabaseUrl:
        """The configured database's URL, in parts: ``DATABASE_URL``, else the POSTGRES_* ones."""
        if self.database_url is None:
            return DatabaseUrl(
                user=self.postgres_user,
                password=self.postgres_password.get_secret_value(),
                host=self.postgres_host,
                port=self.postgres_port,
                database=self.postgres_db,
            )
        return DatabaseUrl.parse(self.database_url.get_secret_value())

    @property
    def url(self) -> URL:
        """The SQLAlchemy URL, always on the psycopg driver: for code that makes an engine.

        Built on demand (SQLAlchemy loads here); everything else reads
        :attr:`parsed_url`, so a command that makes no engine never imports it.
        """
        return self.parsed_url.sqlalchemy()

    @property
    def url_from_environment(self) -> bool:
        """True when ``DATABASE_URL`` was given, which makes the server someone else's."""
        return self.database_url is not None

    @property
    def masked_url(self) -> str:
        """The URL with the password replaced by ``***``: safe for logs and output."""
        return self.parsed_url.render(hide_password=True)

    @property
    def plain_url(self) -> str:
        """A libpq URL (``postgresql://...``) with the password, for psql and editors."""
        return self.parsed_url.libpq()

    @property
    def host(self) -> str:
        """The (first) host the URL names; a Unix-socket directory when the URL uses one.

        A failover URL names several: :attr:`address` lists them all.
        """
        url = self.parsed_url
        if url.host:
            return url.host
        return url.endpoints()[0][0]

    @property
    def port(self) -> int:
        """The (first) port the URL names, 5432 when it names none."""
        url = self.parsed_url
        if url.host:
            return url.port or 5432
        return url.endpoints()[0][1] or 5432

    @property
    def address(self) -> str:
        """Every ``host:port`` libpq tries, in order (``h1:5432,h2:5432``), for messages."""
        return self.parsed_url.address()

    @property
    def database(self) -> str:
        """The database name the URL names."""
        url = self.parsed_url
        return url.database or url.user or "postgres"

    @property
    def user(self) -> str:
        """The role the URL names."""
        return self.parsed_url.user or "postgres"

    @property
    def password(self) -> str:
        """The password the URL carries, empty when none."""
        return self.parsed_url.password or ""


class _IsolatedSettings(Settings):
    """Settings that read only what they are given."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _setting_error(exc: ValidationError) -> InvalidSettingError:
    """The first problem pydantic found, as one line naming the setting as it is spelled
    in ``.env`` (the values are hidden: ``hide_input_in_errors``)."""
    first = exc.errors()[0]
    name = str(first["loc"][0]).upper() if first["loc"] else "a setting"
    message = first["msg"].removeprefix("Value error, ")  # pydantic's wrapping of our own text
    return InvalidSettingError(f"{name}: {message}; fix it in .env or the environment")


def is_local_host(host: str) -> bool:
    """True for loopback addresses, ``localhost`` and Unix sockets (a directory, or ``@name``).

    Destructive commands run without ``--force`` only against such hosts.
    """
    if not host or host.startswith(("/", "@")) or host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
