"""Guards for destructive commands and sample data: refuse non-development targets, ask first.

A destructive command (``reset``, ``down --purge``, ``downgrade``, snapshot
restore) is refused, before any connection is made, when any address libpq
would connect to is not local or ``BOT_DB_ENVIRONMENT=production``, unless
``--force`` is given. Then it asks for consent on a terminal, or needs
``--yes``; with no terminal and no ``--yes`` it refuses rather than hang.

The host in the URL is not enough to decide on: libpq also takes a list of
hosts, ``hostaddr`` (which is connected to instead of the host name), a
``service`` from a service file, and ``PGHOST``/``PGHOSTADDR``/``PGSERVICE``
from the environment. :func:`connection_targets` asks libpq's own parser and
defaults for all of them, so the guard sees what the connection would reach.

Sample data (``seeds/``) never reaches a production database, ``--force`` or
not; a non-local one only with ``--force`` (a shared development server).
"""

from __future__ import annotations

import configparser
import os
import sys
from pathlib import Path
from typing import TextIO

from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot_persistence.errors import GuardRefusedError
from bot_persistence.settings import Settings, is_local_host

__all__ = ["confirm", "connection_targets", "guard_destructive", "guard_seeding", "hosts_of"]

#: The connection parameters that decide where libpq connects.
_WHERE = ("host", "hostaddr")


def _libpq_params(settings: Settings) -> dict[str, str]:
    """The parameters psycopg hands libpq for the URL, after libpq's own parsing.

    The keyword arguments are built as SQLAlchemy's psycopg dialect builds them (a ``?host=``
    list becomes ``host=a,b``), psycopg joins them into a conninfo string, and
    libpq's parser reads it back: the same three steps a real connection takes.
    """
    kwargs = settings.parsed_url.connect_params()
    return {key: str(value) for key, value in conninfo_to_dict(make_conninfo("", **kwargs)).items()}


def _libpq_environment() -> dict[str, str]:
    """``PGHOST``, ``PGHOSTADDR`` and ``PGSERVICE`` as libpq itself reads them."""
    found: dict[str, str] = {}
    for option in pq.Conninfo.get_defaults():
        keyword = option.keyword.decode()
        if keyword in (*_WHERE, "service") and option.envvar and option.val:
            found[keyword] = option.val.decode(errors="replace")
    return found


def _service_files() -> list[Path]:
    """The service files libpq reads, in its order (libpq's environment, not our settings)."""
    files = [Path(os.environ.get("PGSERVICEFILE") or Path.home() / ".pg_service.conf")]
    sysconf = os.environ.get("PGSYSCONFDIR")
    if sysconf:
        files.append(Path(sysconf) / "pg_service.conf")
    files += [Path("/etc/postgresql-common/pg_service.conf"), Path("/etc/pg_service.conf")]
    return files


def _service_entry(name: str) -> dict[str, str] | None:
    """The first service file section called ``name``, or None when no readable file has it."""
    for path in _service_files():
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(path.read_text(encoding="utf-8", errors="replace"))
        except (OSError, configparser.Error):
            continue
        if parser.has_section(name):
            return {key: value.strip() for key, value in parser.items(name)}
    return None


def connection_targets(settings: Settings) -> list[str]:
    """Every address libpq could connect to for ``settings``: hosts, hostaddrs, socket dirs.

    Explicit parameters win over a service entry, which wins over the
    environment, as in libpq. An empty list means libpq's default, the local
    Unix socket. A service that cannot be found raises: what it points at is
    unknown, so it cannot be called local.
    """
    params = _libpq_params(settings)
    environment = _libpq_environment()
    service = params.get("service") or environment.get("service")
    entry: dict[str, str] = {}
    if service:
        found = _service_entry(service)
        if found is None:
            raise GuardRefusedError(
                f"cannot tell where service {service!r} points (no service file defines it); "
                "name the host in DATABASE_URL instead, or add --force"
            )
        entry = found
    targets: list[str] = []
    for key in _WHERE:
        value = params.get(key) or entry.get(key) or environment.get(key) or ""
        targets += [part.strip() for part in value.split(",") if part.strip()]
    return targets


def hosts_of(settings: Settings) -> list[str]:
    """Every host libpq may connect to: the URL's host, or each ``?host=`` of a multi-host URL."""
    url = settings.parsed_url
    named = url.query.get("host")
    listed = [named] if isinstance(named, str) else list(named or ())
    hosts = [h.rsplit(":", 1)[0] if not h.startswith("/") else h for h in listed]
    return [url.host] if url.host else hosts or [settings.host]


def _non_local(settings: Settings) -> str | None:
    """The first address libpq would use that is not local (see :func:`connection_targets`)."""
    return next((t for t in connection_targets(settings) if not is_local_host(t)), None)


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
    remote = [target for target in connection_targets(settings) if not is_local_host(target)]
    if remote:
        raise GuardRefusedError(
            f"refusing to {action} on {', '.join(remote)}, which is not a local host (from "
            "the URL, a service file or PGHOST/PGHOSTADDR); add --force if this is really "
            "a development database"
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
        raise GuardRefusedError(
            f'nothing was changed: there is no terminal to ask "{question}" on; '
            "run it again with --yes to agree"
        )
    stdout.write(f"{question} [y/N] ")
    stdout.flush()
    answer = stdin.readline().strip().lower()
    if answer not in {"y", "yes"}:
        raise GuardRefusedError("cancelled: nothing was changed")
