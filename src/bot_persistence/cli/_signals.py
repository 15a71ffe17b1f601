"""Ctrl-C and SIGTERM as one line: installed first, before the heavy imports of the CLI.

``bot-db`` loads SQLAlchemy, pydantic and Alembic before it can do anything;
an interrupt in that second must end the same way as one later: one line,
exit 130 (SIGINT) or 143 (SIGTERM), no traceback. SIGTERM is raised as
:class:`Terminated` wherever the program is, so ``finally`` blocks (the
removal of initdb's password file, a child process's end) run as for Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

__all__ = ["INTERRUPTED", "TERMINATED", "Terminated", "install", "signal_behind", "stop"]

INTERRUPTED = "interrupted; run the command again to finish what it started"
TERMINATED = "terminated; run the command again to finish what it started"


class Terminated(BaseException):
    """SIGTERM, raised where the program is (a sibling of KeyboardInterrupt)."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


def install() -> None:
    """Turn SIGTERM into :class:`Terminated`; SIGINT is Python's KeyboardInterrupt already."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def signal_behind(exc: BaseException) -> BaseException | None:
    """The KeyboardInterrupt or Terminated that ``exc`` is, or was raised while handling.

    Python wraps an exception raised inside some machinery (a class body's
    ``__set_name__``, for one) in a RuntimeError; the interrupt is its cause.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt | Terminated):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def stop(exc: BaseException) -> NoReturn:
    """End the process for an interrupt that came while the command line was loading.

    ``os._exit``: a module half-imported has nothing to clean up, and the
    interpreter's own exit would turn a handled interrupt into a death by
    SIGINT (exit status -2) rather than our 130.
    """
    terminated = isinstance(exc, Terminated)
    sys.stderr.write(f"bot-db: error: {TERMINATED if terminated else INTERRUPTED}\n")
    sys.stderr.flush()
    os._exit(143 if terminated else 130)
