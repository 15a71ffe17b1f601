"""Waiting with a deadline: retry a call with back-off, or poll a condition; never past the end.

Every wait in the project is one of two shapes. A *retry* calls something that
may fail while a server is starting (a connect, a copy held up by a closing
session) until it succeeds, backing off between attempts, and gives up when
the failure is not worth retrying or the next pause would pass the deadline;
the caller turns the last failure into its own typed error. A *poll* asks a
cheap question (does the port answer, has the process exited, is the lock
free) at a fixed interval until the answer is yes or the deadline passes.

Why not tenacity: these two loops are all the project needs, in a sync and an
async flavour, and the bot's process imports this module at start-up; a
dependency (and its import) in every bot for forty lines was not worth it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["Backoff", "poll", "retry", "retry_async"]

T = TypeVar("T")


class Backoff:
    """When to try again after a failure: doubling pauses, bounded by a deadline.

    ``retry_on`` says which failures are worth another attempt (a server still
    starting, yes; a wrong password, no); ``on_retry`` is told of each one that
    is retried (attempt number and failure), for a log line per attempt.
    """

    def __init__(
        self,
        timeout: float,
        *,
        retry_on: Callable[[Exception], bool],
        on_retry: Callable[[int, Exception], None] | None = None,
        first: float = 0.05,
        most: float = 0.5,
    ) -> None:
        self.deadline = time.monotonic() + timeout
        self.retry_on = retry_on
        self.on_retry = on_retry
        self.attempts = 0
        self._delay = first
        self._most = most

    def pause_after(self, failure: Exception) -> float | None:
        """Seconds to wait before the next attempt, or ``None``: give up, raise ``failure``."""
        self.attempts += 1
        delay = self._delay
        if not self.retry_on(failure) or time.monotonic() + delay > self.deadline:
            return None
        if self.on_retry is not None:
            self.on_retry(self.attempts, failure)
        self._delay = min(delay * 2, self._most)
        return delay


def retry(attempt: Callable[[], T], backoff: Backoff) -> T:
    """``attempt()``'s result, retried as ``backoff`` says; its last failure propagates."""
    while True:
        try:
            return attempt()
        except Exception as failure:
            pause = backoff.pause_after(failure)
            if pause is None:
                raise
        time.sleep(pause)  # back-off between attempts, bounded by the deadline


async def retry_async(attempt: Callable[[], Awaitable[T]], backoff: Backoff) -> T:
    """:func:`retry` for a coroutine: the pauses do not block the event loop."""
    while True:
        try:
            return await attempt()
        except Exception as failure:
            pause = backoff.pause_after(failure)
            if pause is None:
                raise
        await asyncio.sleep(pause)  # back-off between attempts, bounded by the deadline


def poll(condition: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> bool:
    """Ask ``condition`` every ``interval`` seconds: True once it holds, False at the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)  # the poll interval of a condition bounded by the deadline
    return True
