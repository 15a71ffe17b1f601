"""The migration's lock policy: its SET statements, what counts as a lock timeout, retries."""

from __future__ import annotations

import psycopg
import pytest

from bot_persistence.errors import LockTimeoutError, MigrationFailedError
from bot_persistence.migrations.lock_retries import (
    Blocker,
    LockWaitTimedOut,
    is_lock_timeout,
    timeout_statements,
    with_lock_retries,
)
from bot_persistence.settings import Settings

BLOCKER = Blocker(4242, "reporting", "idle in transaction", 25.4)


@pytest.mark.parametrize(
    ("values", "local", "expected"),
    [
        ({}, False, ["SET lock_timeout = 2000"]),
        ({}, True, ["SET LOCAL lock_timeout = 2000"]),
        (
            {"migration_statement_timeout_ms": 600000},
            False,
            ["SET lock_timeout = 2000", "SET statement_timeout = 600000"],
        ),
        ({"migration_lock_timeout_ms": 0}, False, []),
    ],
    ids=["default", "one-transaction", "statement-timeout", "no-limit"],
)
def test_a_migration_run_sets_a_short_lock_timeout_by_default(
    values: dict[str, int], local: bool, expected: list[str]
) -> None:
    assert timeout_statements(Settings.from_values(**values), local=local) == expected


def test_a_lock_timeout_is_found_however_deep_it_was_wrapped() -> None:
    wrapped = MigrationFailedError("revision x failed")
    wrapped.__cause__ = psycopg.errors.LockNotAvailable("canceling statement due to lock timeout")
    assert is_lock_timeout(wrapped)
    assert not is_lock_timeout(MigrationFailedError("revision x failed"))
    assert not is_lock_timeout(psycopg.errors.QueryCanceled("statement timeout"))


def test_a_revision_blocked_every_time_gives_up_in_one_line_naming_the_blocker() -> None:
    pauses: list[float] = []
    runs = 0

    def run() -> None:
        nonlocal runs
        runs += 1
        blocked = LockWaitTimedOut((BLOCKER,))
        blocked.revision = "abc123 (add a column)"
        raise blocked

    settings = Settings.from_values(migration_lock_retries=4)
    with pytest.raises(LockTimeoutError) as caught:
        with_lock_retries(settings, run, sleep=pauses.append)
    assert runs == 4
    assert pauses == [0.5, 1.0, 2.0]
    message = str(caught.value)
    assert "\n" not in message
    assert "abc123 (add a column)" in message and "2000 ms" in message
    assert "pid 4242" in message and "'reporting'" in message and "open 25 s" in message


def test_a_revision_whose_blocker_ends_succeeds_on_a_later_attempt() -> None:
    pauses: list[float] = []
    outcomes = iter([LockWaitTimedOut(()), LockWaitTimedOut(()), None])

    def run() -> str:
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome
        return "done"

    assert with_lock_retries(Settings.from_values(), run, sleep=pauses.append) == "done"
    assert pauses == [0.5, 1.0]
