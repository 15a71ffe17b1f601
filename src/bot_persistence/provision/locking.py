"""An exclusive lock on a file: one ``bot-db`` at a time changes a data directory.

The operating system releases it when the process ends, even by ``kill -9``,
so a crashed ``up`` never leaves the data directory locked.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from bot_persistence.errors import ServerStartError

__all__ = ["file_lock"]


@contextlib.contextmanager
def file_lock(path: Path, *, timeout: float) -> Iterator[None]:
    """An exclusive lock on ``path`` (released when the process dies, even by kill -9)."""
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(handle):
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"another bot-db command has held {path} for {timeout:.0f}s; wait for "
                    "it to finish, or stop it"
                )
            time.sleep(0.05)  # polling the lock, bounded by the deadline
        yield
    finally:
        os.close(handle)  # closing the descriptor releases the lock


def _try_lock(handle: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(handle, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
