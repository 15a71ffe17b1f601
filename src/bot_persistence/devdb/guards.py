"""Guards for destructive commands: refuse non-development targets, ask before destroying.

A destructive command (``reset``, ``down --purge``, ``downgrade``, snapshot
restore) is refused, before any connection is made, when the target host is not
local or ``BOT_DB_ENVIRONMENT=production``, unless ``--force`` is given. Then it
asks for consent on a terminal, or needs ``--yes``; with no terminal and no
``--yes`` it refuses rather than hang.
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot_persistence.errors import GuardRefusedError
from bot_persistence.settings import Settings, is_local_host

__all__ = ["confirm", "guard_destructive"]


def guard_destructive(settings: Settings, *, action: str, force: bool) -> None:
    """Refuse ``action`` on a non-local host or in production unless ``force``."""
    if force:
        return
    if settings.environment == "production":
        raise GuardRefusedError(
            f"refusing to {action}: BOT_DB_ENVIRONMENT=production; add --force if you "
            "really mean to"
        )
    if not is_local_host(settings.host):
        raise GuardRefusedError(
            f"refusing to {action} on {settings.host}, which is not a local host; add "
            "--force if this is really a development database"
        )


def confirm(
    question: str,
    *,
    yes: bool,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> None:
    """Ask ``question`` on a terminal; refuse without a terminal unless ``yes``."""
    if yes:
        return
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    isatty = getattr(stdin, "isatty", None)
    if stdin is None or not (isatty and isatty()):
        raise GuardRefusedError(f"{question} needs consent: run it again with --yes")
    stdout.write(f"{question} [y/N] ")
    stdout.flush()
    answer = stdin.readline().strip().lower()
    if answer not in {"y", "yes"}:
        raise GuardRefusedError("cancelled: nothing was changed")
