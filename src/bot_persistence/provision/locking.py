"""An exclusive lock on a file: one ``bot-db`` at a time changes a data directory.

filelock's lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows): the
operating system releases it when the process ends, even by ``kill -9``, so a
crashed ``up`` never leaves the data directory locked.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from bot_persistence.errors import ServerStartError

__all__ = ["file_lock"]


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float) -> Iterator[None]:
    """An exclusive lock on ``path``, waited for at most ``timeout`` seconds."""
    lock = FileLock(path, timeout=timeout, mode=0o600)
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
