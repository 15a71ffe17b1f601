"""Guards for destructive commands and sample data: refuse non-development targets, ask first.

A destructive command (``reset``, ``down --purge``, ``downgrade``, snapshot
restore) is refused, before any connection is made, when a host the URL names
is not local or ``BOT_DB_ENVIRONMENT=production``, unless ``--force`` is given.
Then it asks for consent on a terminal, or needs ``--yes``; with no terminal and
no ``--yes`` it refuses rather than hang.

Sample data (``seeds/``) never reaches a production database, ``--force`` or
not; a non-local one only with ``--force`` (a shared development server).
"""

from __future__ import annotations

import sys
from typing import TextIO

from bot_persistence.errors import GuardRefusedError
from bot_persistence.settings import Settings, is_local_host

__all__ = ["confirm", "guard_destructive", "guard_seeding", "hosts_of"]


def hosts_of(settings: Settings) -> list[str]:
    """Every host libpq may connect to: the URL's host, or each ``?host=`` of a multi-host URL."""
    url = settings.url
    named = url.query.get("host")
    listed = [named] if isinstance(named, str) else list(named or ())
    hosts = [h.rsplit(":", 1)[0] if not h.startswith("/") else h for h in listed]
    return [url.host] if url.host else hosts or [settings.host]


def _non_local(settings: Settings) -> str | None:
    return next((host for host in hosts_of(settings) if not is_local_host(host)), None)


def guard_seeding(settings: Settings, *, force: bool = False) -> None:
    """Refuse to load sample data into production (always) or a non-local host (unless force)."""
    if settings.environment == "production":
        raise GuardRefusedError(
            f"refusing to load sample data into {settings.database!r}: "
            "BOT_DB_ENVIRONMENT=production, and seeds never go there (--force does not "
            "change that); migrate it with `bot-db deploy`"
        )
    remote = _non_local(settings)
    if remote is not None and not force:
        raise GuardRefusedError(
            f"refusing to load sample data into {settings.database!r} on {remote}, which is "
            "not a local host; migrate it with `bot-db deploy`, or add --force if it is "
            "really a development database"
        )


def guard_destructive(settings: Settings, *, action: str, force: bool) -> None:
    """Refuse ``action`` on a non-local host or in production unless ``force``."""
    if force:
        return
    if settings.environment == "production":
        raise GuardRefusedError(
            f"refusing to {action}: BOT_DB_ENVIRONMENT=production; add --force if you "
            "really mean to"
        )
    remote = _non_local(settings)
    if remote is not None:
        raise GuardRefusedError(
            f"refusing to {action} on {remote}, which is not a local host; add "
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
