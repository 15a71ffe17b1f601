from __future__ import annotations

import pytest

from bot_persistence.errors import InvalidDatabaseUrlError
from bot_persistence.settings import Settings, is_local_host


def make(**values: object) -> Settings:
    return Settings.from_values(**values)


def test_defaults_build_a_local_psycopg_url() -> None:
    settings = make()
    assert settings.url.drivername == "postgresql+psycopg"
    assert (settings.host, settings.port, settings.database, settings.user) == (
        "127.0.0.1",
        5433,
        "bot",
        "bot",
    )
    assert settings.environment == "development"


def test_database_url_wins_over_parts() -> None:
    settings = make(database_url="postgresql://u:p@db.example:6000/app", postgres_port=1234)
    assert (settings.host, settings.port, settings.database) == ("db.example", 6000, "app")
    assert settings.url_from_environment


@pytest.mark.parametrize(
    "raw",
    ["postgres://u:p@h/d", "postgresql://u:p@h/d", "postgresql+psycopg://u:p@h/d"],
    ids=["postgres", "postgresql", "psycopg"],
)
def test_database_url_schemes_move_onto_psycopg(raw: str) -> None:
    assert make(database_url=raw).url.drivername == "postgresql+psycopg"


def test_blank_database_url_means_unset() -> None:
    assert not make(database_url="  ").url_from_environment


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("not a url", "not a valid URL"),
        ("mysql://u:p@h/d", "speaks only PostgreSQL"),
        ("postgresql://u:p@h:abc/d", "port that is not a number"),
        ("postgresql://u:p@h", "names no database"),
        ("postgresql:///d", "names no host"),
    ],
    ids=["garbage", "mysql", "port", "no-database", "no-host"],
)
def test_malformed_database_url_says_how_to_write_it(raw: str, says: str) -> None:
    with pytest.raises(InvalidDatabaseUrlError, match=says) as caught:
        _ = make(database_url=raw).url
    assert "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in str(
        caught.value
    ) or "HOST:PORT" in str(caught.value)


def test_malformed_url_message_never_contains_the_password() -> None:
    with pytest.raises(InvalidDatabaseUrlError) as caught:
        _ = make(database_url="mysql://user:s3cr3t-value@h/d").url
    assert "s3cr3t-value" not in str(caught.value)


def test_masked_url_hides_the_password_and_plain_url_keeps_it() -> None:
    settings = make(postgres_password="p@ss word")
    assert "p@ss" not in settings.masked_url
    assert "***" in settings.masked_url
    assert settings.plain_url.startswith("postgresql://")
    assert settings.password == "p@ss word"


def test_unix_socket_url_has_the_socket_directory_as_host() -> None:
    settings = make(database_url="postgresql://u@/d?host=/var/run/postgresql")
    assert settings.host == "/var/run/postgresql"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_PORT", "6543")
    monkeypatch.setenv("BOT_DB_BACKEND", "external")
    monkeypatch.setenv("BOT_DB_ENVIRONMENT", "production")
    settings = Settings(_env_file=None)
    assert (settings.port, settings.backend, settings.environment) == (
        6543,
        "external",
        "production",
    )


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("/var/run/postgresql", True),
        ("10.0.0.5", False),
        ("db.example.com", False),
        ("2001:db8::1", False),
    ],
)
def test_is_local_host(host: str, local: bool) -> None:
    assert is_local_host(host) is local
