"""Running a unit of work again after a deadlock or a serialization failure.

PostgreSQL resolves a deadlock by cancelling one of the transactions in it
(SQLSTATE 40P01), and under ``REPEATABLE READ``/``SERIALIZABLE`` cancels one
that read what another changed (40001). Both are rolled back in full, so the
cure is to run the whole unit again from its start, which only the caller can
do: the unit is a function of its session. Errors whose class says
``retryable`` (:class:`~bot_persistence.errors.DeadlockError`,
:class:`~bot_persistence.errors.SerializationError`) are retried, a bounded
number of times, with a growing, jittered pause, so that the two transactions
that collided do not collide again in step. Everything else is raised at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Protocol, TypeVar

from bot_persistence.errors import BotPersistenceError
from bot_persistence.session import Session

__all__ = ["DEFAULT_ATTEMPTS", "run_retrying"]

_log = logging.getLogger(__name__)
T = TypeVar("T")


class _Sessions(Protocol):
    """What gives units of work: :class:`bot_persistence.Database`."""

    def session(self) -> AbstractAsyncContextManager[Session]: ...


#: How many times a unit of work runs at most, the first time included.
DEFAULT_ATTEMPTS = 4


async def run_retrying(
    database: _Sessions,
    work: Callable[[Session], Awaitable[T]],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    first_pause: float = 0.02,
    max_pause: float = 0.5,
) -> T:
    """``await work(session)`` in a unit of work; again, in a new one, after a retryable error.

    ``work`` must do everything of the unit inside its session, and nothing it
    cannot do twice outside it (send a Discord message after, not inside). The
    last error is raised when every attempt failed.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    pause = first_pause
    for attempt in range(1, attempts + 1):
        try:
            async with database.session() as session:
                return await work(session)
        except BotPersistenceError as exc:
            if not exc.retryable or attempt == attempts:
                raise
            _log.info(
                "unit of work rolled back (%s), attempt %d of %d; running it again",
                type(exc).__name__,
                attempt,
                attempts,
            )
        # A back-off between attempts, jittered so two colliding units part ways.
        await asyncio.sleep(pause * random.uniform(0.5, 1.5))  # noqa: S311 (not security)
        pause = min(pause * 2, max_pause)
    raise AssertionError("unreachable")  # pragma: no cover
