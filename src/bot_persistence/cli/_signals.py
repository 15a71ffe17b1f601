"""Ctrl-C and SIGTERM as one line: installed first, before the heavy imports of the CLI.

``bot-db`` loads SQLAlchemy, pydantic and Alembic before it can do anything;
an interrupt in that second must end the same way as one later: one line,
exit 130 (SIGINT) or 143 (SIGTERM), no traceback. SIGTERM is raised as
:class:`Terminated` wherever the program is, so ``finally`` blocks (the
removal of initdb's password file, a child process's end) run as for Ctrl-C.
"""

from __future__ import annotations

import signal
import sys
from typing import NoReturn

__all__ = ["INTERRUPTED", "TERMINATED", "Terminated", "install", "stop"]

INTERRUPTED = "interrupted; run the command again to finish what it started"
TERMINATED = "terminated; run the command again to finish what it started"


class Terminated(BaseException):
    """SIGTERM, raised where the program is (a sibling of KeyboardInterrupt)."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


def install() -> None:
    """Turn SIGTERM into :class:`Terminated`; SIGINT is Python's KeyboardInterrupt already."""
    signal.signal(signal.SIGTERM, _on_sigterm)


def stop(exc: BaseException) -> NoReturn:
    """End the process for an interrupt that came before the command line was loaded."""
    terminated = isinstance(exc, Terminated)
    sys.stderr.write(f"bot-db: error: {TERMINATED if terminated else INTERRUPTED}\n")
    sys.exit(143 if terminated else 130)
