from __future__ import annotations

import psycopg
import pytest

from bot_persistence.connection import is_retryable, translate_connect_error
from bot_persistence.errors import (
    AuthenticationFailedError,
    BotPersistenceError,
    DatabaseMissingError,
    DatabaseUnavailableError,
    ServerNotRunningError,
)
from bot_persistence.settings import Settings

SETTINGS = Settings.from_values(postgres_password="hunter2")


@pytest.mark.parametrize(
    ("message", "kind", "advice"),
    [
        (
            'connection failed: FATAL:  password authentication failed for user "bot"',
            AuthenticationFailedError,
            "POSTGRES_PASSWORD",
        ),
        ('FATAL:  role "bot" does not exist', AuthenticationFailedError, "POSTGRES_USER"),
        ('FATAL:  database "bot" does not exist', DatabaseMissingError, "bot-db up"),
        ("connection failed: Connection refused", ServerNotRunningError, "bot-db up"),
        ("FATAL:  the database system is starting up", ServerNotRunningError, "bot-db up"),
        ("connection timeout expired", ServerNotRunningError, "POSTGRES_PORT"),
        ("FATAL:  out of shared memory hunter2", DatabaseUnavailableError, "out of shared memory"),
    ],
    ids=["password", "role", "database", "refused", "starting", "timeout", "other"],
)
def test_driver_errors_become_typed_actionable_errors(
    message: str, kind: type[BotPersistenceError], advice: str
) -> None:
    error = translate_connect_error(psycopg.OperationalError(message), SETTINGS)
    assert type(error) is kind
    assert advice in str(error)
    assert "hunter2" not in str(error)
    assert "127.0.0.1:5433" in str(error)


@pytest.mark.parametrize(
    ("message", "retry"),
    [
        ("the database system is starting up", True),
        ("Connection refused", True),
        ("password authentication failed", False),
        ('database "x" does not exist', False),
    ],
)
def test_only_a_starting_server_is_worth_retrying(message: str, retry: bool) -> None:
    assert is_retryable(psycopg.OperationalError(message)) is retry
