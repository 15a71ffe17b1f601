from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from bot_persistence.connection import is_retryable, translate_connect_error
from bot_persistence.errors import (
    AuthenticationFailedError,
    BotPersistenceError,
    DatabaseMissingError,
    DatabaseUnavailableError,
    DiskFullError,
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


def test_no_space_left_is_a_disk_full_error_that_says_what_to_free() -> None:
    exc = psycopg.OperationalError(
        'could not extend file "base/16384/16390": No space left on device'
    )
    error = translate_connect_error(exc, SETTINGS)
    assert isinstance(error, DiskFullError)
    assert "snapshot" in str(error) and ".devdb" in str(error)


def test_a_lost_connection_on_a_full_disk_says_the_disk_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot_persistence.db import translate_call_error

    settings = Settings.from_values(data_dir=tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: shutil._ntuple_diskusage(100, 100, 0))
    lost = psycopg.OperationalError("server closed the connection unexpectedly")
    error = translate_call_error(lost, settings)
    assert isinstance(error, DiskFullError)
    assert str(tmp_path) in str(error) and "0 MB free" in str(error)


@pytest.mark.parametrize(
    ("driver_error", "kind", "retryable"),
    [
        (psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"), "Lock", False),
        (psycopg.errors.DeadlockDetected("deadlock detected"), "Deadlock", True),
        (psycopg.errors.SerializationFailure("could not serialize access"), "Serialization", True),
        (
            psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
            "Statement",
            False,
        ),
        (
            psycopg.errors.InsufficientPrivilege("permission denied for table t"),
            "Insufficient",
            False,
        ),
        (psycopg.errors.AdminShutdown("terminating connection"), "ConnectionLost", False),
        (
            psycopg.OperationalError("server closed the connection unexpectedly"),
            "ConnectionLost",
            False,
        ),
        (psycopg.errors.OutOfMemory("out of memory"), "DatabaseUnavailable", False),
    ],
    ids=["lock", "deadlock", "serialization", "statement", "privilege", "admin", "lost", "other"],
)
def test_a_failed_call_is_named_by_its_error_class(
    driver_error: psycopg.Error, kind: str, retryable: bool
) -> None:
    from bot_persistence.connection import translate_call_error

    error = translate_call_error(driver_error, SETTINGS)
    assert error is not None and type(error).__name__.startswith(kind)
    assert error.retryable is retryable
    assert "hunter2" not in str(error)


def test_a_connection_lost_during_commit_is_an_unknown_outcome_not_nothing_changed() -> None:
    from bot_persistence.connection import translate_call_error
    from bot_persistence.errors import CommitOutcomeUnknownError

    lost = psycopg.OperationalError("server closed the connection unexpectedly")
    error = translate_call_error(lost, SETTINGS, during_commit=True)
    assert isinstance(error, CommitOutcomeUnknownError)
    assert "nothing was changed" not in str(error)


@pytest.mark.parametrize(
    ("statement", "grant"),
    [
        ("INSERT INTO t VALUES (1)", "INSERT"),
        ("update t set n = 1", "UPDATE"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "SELECT, INSERT, UPDATE, DELETE"),
        (None, "SELECT, INSERT, UPDATE, DELETE"),
    ],
    ids=["insert", "update-lowercase", "with", "unknown"],
)
def test_a_missing_privilege_names_the_grant_of_the_statement(
    statement: str | None, grant: str
) -> None:
    from bot_persistence.connection import translate_call_error

    refused = psycopg.errors.InsufficientPrivilege("permission denied for table t")
    error = translate_call_error(refused, SETTINGS, statement=statement)
    assert f"GRANT {grant} ON ALL TABLES IN SCHEMA public TO bot " in str(error)
    assert "docs/production.md" in str(error)


def test_check_names_pghostaddr_which_libpq_connects_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """With PGHOSTADDR set, libpq connects there, not to the host: the line says so."""
    from bot_persistence.provision.base import free_port
    from bot_persistence.settings import Settings
    from tests.helpers import bot_db

    monkeypatch.setenv("PGHOSTADDR", "127.0.0.2")
    settings = Settings.from_values(
        branch_databases=False, postgres_port=free_port(), connect_timeout=1, backend="external"
    )
    for command in ("check", "migrations"):
        code, out, err = bot_db(settings, command)
        assert code != 0
        assert "PGHOSTADDR=127.0.0.2" in out + err, command
