"""BOT_DB_POOLER: what each mode changes in the connect arguments and timeouts."""

from __future__ import annotations

import psycopg
import pytest

from bot_persistence.connection import (
    check_pooler,
    connect_kwargs,
    statement_timeout_sql,
    translate_connect_error,
)
from bot_persistence.errors import PoolerModeError, ServerNotRunningError, TlsUnavailableError
from bot_persistence.settings import Settings


def make(**values: object) -> Settings:
    return Settings.from_values(**values)


def test_direct_connections_send_the_timeout_as_a_startup_option() -> None:
    kwargs = connect_kwargs(make(statement_timeout_ms=1234))
    assert kwargs["options"] == "-c statement_timeout=1234"
    assert "prepare_threshold" not in kwargs
    assert statement_timeout_sql(make(statement_timeout_ms=1234)) is None


@pytest.mark.parametrize(
    ("pooler", "prepare_off", "when", "sql"),
    [
        ("session", False, "connect", "SET statement_timeout = 1234"),
        ("transaction", True, "begin", "SET LOCAL statement_timeout = 1234"),
    ],
    ids=["session", "transaction"],
)
def test_a_pooler_gets_no_startup_options(
    pooler: str, prepare_off: bool, when: str, sql: str
) -> None:
    settings = make(pooler=pooler, statement_timeout_ms=1234)
    kwargs = connect_kwargs(settings)
    assert "options" not in kwargs
    assert ("prepare_threshold" in kwargs and kwargs["prepare_threshold"] is None) == prepare_off
    assert statement_timeout_sql(settings) == (when, sql)


def test_tooling_connections_carry_no_statement_timeout() -> None:
    assert "options" not in connect_kwargs(make(), statement_timeout=False)


def test_pooler_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_DB_POOLER", "transaction")
    assert Settings(_env_file=None).pooler == "transaction"


def test_statement_mode_is_refused_in_one_line() -> None:
    with pytest.raises(PoolerModeError, match="statement pooling mode") as caught:
        check_pooler(make(pooler="statement"))
    assert "\n" not in str(caught.value)
    with pytest.raises(PoolerModeError):
        connect_kwargs(make(pooler="statement"))


@pytest.mark.parametrize(
    ("message", "kind", "advice"),
    [
        (
            "ERROR:  transaction blocks not allowed in statement pooling mode",
            PoolerModeError,
            "pool_mode = transaction",
        ),
        ("FATAL:  unsupported startup parameter: options", PoolerModeError, "BOT_DB_POOLER"),
        (
            "connection failed: server does not support SSL, but SSL was required",
            TlsUnavailableError,
            "sslmode",
        ),
    ],
    ids=["statement-mode", "startup-options", "no-tls"],
)
def test_pooler_and_tls_failures_are_typed(
    message: str, kind: type[Exception], advice: str
) -> None:
    error = translate_connect_error(psycopg.OperationalError(message), make())
    assert isinstance(error, kind)
    assert advice in str(error)


def test_a_pooler_that_is_down_is_named() -> None:
    error = translate_connect_error(
        psycopg.OperationalError("connection failed: Connection refused"), make(pooler="session")
    )
    assert isinstance(error, ServerNotRunningError)
    assert "PgBouncer" in str(error)


def test_running_out_of_server_connections_names_the_budget() -> None:
    error = translate_connect_error(
        psycopg.OperationalError("FATAL:  sorry, too many clients already"), make()
    )
    assert "max_connections" in str(error) and "BOT_DB_POOL_SIZE" in str(error)
