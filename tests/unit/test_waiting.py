"""The one deadline helper: retries what is worth retrying, never waits past the deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from bot_persistence.waiting import Backoff, poll, retry, retry_async


class Starting(Exception):
    """Stands for a server that is still starting."""


def _flaky(failures: int) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) <= failures:
            raise Starting("not yet")
        return "ready"

    return calls, attempt


def test_retry_returns_once_the_attempt_succeeds_and_logs_each_retry() -> None:
    calls, attempt = _flaky(2)
    retried: list[int] = []
    backoff = Backoff(
        5,
        retry_on=lambda exc: isinstance(exc, Starting),
        on_retry=lambda n, exc: retried.append(n),
        first=0.001,
    )
    assert retry(attempt, backoff) == "ready"
    assert (len(calls), retried) == (3, [1, 2])


def test_retry_raises_at_once_what_is_not_worth_retrying() -> None:
    calls, attempt = _flaky(5)
    with pytest.raises(Starting):
        retry(attempt, Backoff(5, retry_on=lambda exc: False))
    assert len(calls) == 1


def test_retry_gives_up_before_a_pause_would_pass_the_deadline() -> None:
    calls, attempt = _flaky(1000)
    started = time.monotonic()
    with pytest.raises(Starting):
        retry(attempt, Backoff(0.2, retry_on=lambda exc: True, first=0.01, most=0.05))
    assert time.monotonic() - started < 0.2 + 0.1
    assert 2 < len(calls) < 30  # backed off: doubling pauses, not a busy loop


def test_retry_async_retries_without_blocking_the_loop() -> None:
    tries: list[int] = []

    async def attempt() -> int:
        tries.append(1)
        if len(tries) < 3:
            raise Starting("not yet")
        return len(tries)

    backoff = Backoff(5, retry_on=lambda exc: isinstance(exc, Starting), first=0.001)
    assert asyncio.run(retry_async(attempt, backoff)) == 3


def test_poll_is_true_once_the_condition_holds_and_false_at_the_deadline() -> None:
    answers = iter([False, False, True])
    assert poll(lambda: next(answers), timeout=5, interval=0.001)
    started = time.monotonic()
    assert not poll(lambda: False, timeout=0.05, interval=0.01)
    assert 0.05 <= time.monotonic() - started < 0.5
