"""A throw-away PgBouncer in front of a server: the production shape, for tests and the bench.

:func:`throwaway_pgbouncer` writes a config for a free loopback port, starts
the system's ``pgbouncer`` in the foreground, waits until it accepts
connections, and yields :class:`Settings` that reach the server through it
(``BOT_DB_POOLER`` set to the pool mode); it stops the pooler and removes its
files afterwards. Like PostgreSQL, PgBouncer refuses to run as root: as root it
is started with ``-u`` as the embedded server's system user, which owns its
files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pydantic import SecretStr

from bot_persistence.errors import BackendUnavailableError, ServerStartError
from bot_persistence.provision.base import free_port, port_accepts
from bot_persistence.settings import PoolerMode, Settings
from bot_persistence.waiting import poll

__all__ = ["pgbouncer_binary", "throwaway_pgbouncer"]

#: Where Debian's package puts it (``/usr/sbin`` is not on every user's PATH).
_DEBIAN_BINARY = Path("/usr/sbin/pgbouncer")
#: The unprivileged user PgBouncer runs as when we are root.
_RUN_AS = ("embedded_postgres", "nobody")


def pgbouncer_binary() -> str | None:
    """The ``pgbouncer`` executable, or ``None`` when it is not installed."""
    found = shutil.which("pgbouncer")
    if found:
        return found
    return str(_DEBIAN_BINARY) if _DEBIAN_BINARY.is_file() else None


def _run_as() -> str | None:
    """An unprivileged user to run as when we are root; ``None`` when we are not root."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    for name in _RUN_AS:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise BackendUnavailableError(
        "PgBouncer refuses to run as root and no unprivileged user (embedded_postgres, "
        "nobody) exists to run it as; create one or run as a normal user"
    )


def _quote(value: str) -> str:
    """A userlist.txt field: double quotes, with inner ones doubled."""
    return '"' + value.replace('"', '""') + '"'


def _config(server: Settings, folder: Path, port: int, mode: PoolerMode, pool_size: int) -> str:
    return "\n".join(
        [
            "[databases]",
            f"* = host={server.host} port={server.port}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1",
            f"listen_port = {port}",
            "unix_socket_dir =",
            "auth_type = scram-sha-256",
            f"auth_file = {folder / 'userlist.txt'}",
            f"pool_mode = {mode}",
            f"default_pool_size = {pool_size}",
            "max_client_conn = 1000",
            f"logfile = {folder / 'pgbouncer.log'}",
            f"pidfile = {folder / 'pgbouncer.pid'}",
            "",
        ]
    )


def _last_log_line(folder: Path) -> str:
    log = folder / "pgbouncer.log"
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log.exists() else []
    return lines[-1] if lines else "no log"


@contextlib.contextmanager
def throwaway_pgbouncer(
    server: Settings,
    *,
    pool_mode: PoolerMode = "transaction",
    pool_size: int = 20,
    timeout: float = 10.0,
) -> Iterator[Settings]:
    """PgBouncer in ``pool_mode`` in front of ``server``; yields settings that go through it."""
    binary = pgbouncer_binary()
    if binary is None:
        raise BackendUnavailableError(
            "pgbouncer is not installed; install it (Debian/Ubuntu: apt-get install pgbouncer)"
        )
    user = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="bot-pgbouncer-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        (folder / "pgbouncer.ini").write_text(
            _config(server, folder, port, pool_mode, pool_size), encoding="utf-8"
        )
        (folder / "userlist.txt").write_text(
            f"{_quote(server.user)} {_quote(server.password)}\n", encoding="utf-8"
        )
        command = [binary, str(folder / "pgbouncer.ini")]
        if user is not None:
            for path in (folder, *folder.iterdir()):
                shutil.chown(path, user, user)
            command[1:1] = ["-u", user]
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder
        )
        started = process
        listening = poll(
            lambda: started.poll() is not None or port_accepts("127.0.0.1", port),
            timeout=timeout,
            interval=0.02,
        )
        if not listening or process.poll() is not None:
            raise ServerStartError(
                f"pgbouncer did not start on 127.0.0.1:{port}: {_last_log_line(folder)}"
            )
        through = server.url.set(host="127.0.0.1", port=port)
        yield server.model_copy(
            update={
                "database_url": SecretStr(through.render_as_string(hide_password=False)),
                "pooler": pool_mode,
            }
        )
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(folder, ignore_errors=True)
