"""An exclusive lock on a file: one ``bot-db`` at a time changes a data directory.

filelock's lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows): the
operating system releases it when the process ends, even by ``kill -9``, so a
crashed ``up`` never leaves the data directory locked. filelock comes with the
``embedded`` and ``testing`` extras, not with the bot's own install: it is
imported when a lock is taken, so importing ``provision`` (the pytest plugin
does, in every run) never needs it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bot_persistence.errors import ConfigurationError, ServerStartError

if TYPE_CHECKING:
    from filelock import FileLock

__all__ = ["file_lock", "new_lock"]


def new_lock(path: Path, *, timeout: float) -> FileLock:
    """filelock's exclusive lock on ``path`` (0600), waited for at most ``timeout`` seconds."""
    try:
        from filelock import FileLock
    except ImportError:  # pragma: no cover - every development extra brings it
        raise ConfigurationError(
            "taking a lock on a data directory needs filelock: pip install "
            "'bot-persistence[embedded]' (or [testing])"
        ) from None
    return FileLock(path, timeout=timeout, mode=0o600)


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float) -> Iterator[None]:
    """Hold an exclusive lock on ``path``; one line naming the holder's file after ``timeout``."""
    lock = new_lock(path, timeout=timeout)
    from filelock import Timeout  # present: new_lock found filelock

    try:
        lock.acquire()
    except Timeout:
        raise ServerStartError(
            f"another bot-db command has held {path} for {timeout:.0f}s; wait for "
            "it to finish, or stop it"
        ) from None
    try:
        yield
    finally:
        lock.release()
