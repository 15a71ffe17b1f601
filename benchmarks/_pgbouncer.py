"""A throw-away PgBouncer in front of a benchmark's server (Debian's ``pgbouncer`` binary)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from bot_persistence.provision.base import free_port
from bot_persistence.provision.embedded import SYSTEM_USER

__all__ = ["pgbouncer", "pgbouncer_binary"]

_CANDIDATES = ("pgbouncer", "/usr/sbin/pgbouncer", "/usr/local/sbin/pgbouncer")


def pgbouncer_binary() -> str | None:
    """Where PgBouncer is installed, ``None`` when it is not."""
    for candidate in _CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


@contextlib.contextmanager
def pgbouncer(
    root: Path, *, server_port: int, database: str, user: str, password: str, pool_size: int
) -> Iterator[int]:
    """PgBouncer in transaction mode on a free port, pooling ``database``; yields the port."""
    binary = pgbouncer_binary()
    if binary is None:
        raise FileNotFoundError("pgbouncer is not installed (apt-get install pgbouncer)")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    (root / "users.txt").write_text(f'"{user}" "{password}"\n')
    (root / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"{database} = host=127.0.0.1 port={server_port} dbname={database}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = scram-sha-256\nauth_file = {root / 'users.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 500\n"
        f"logfile = {root / 'pgbouncer.log'}\npidfile = {root / 'pgbouncer.pid'}\n"
    )
    command = [binary]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # PgBouncer refuses to run as root; the embedded server's user will do.
        for path in (root, root / "users.txt", root / "pgbouncer.ini"):
            shutil.chown(path, SYSTEM_USER, SYSTEM_USER)
        command += ["-u", SYSTEM_USER]
    process = subprocess.Popen(
        [*command, str(root / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process, timeout=10)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_port(port: int, process: subprocess.Popen[bytes], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {process.returncode} at start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"pgbouncer did not listen on port {port} within {timeout:g}s")
        time.sleep(0.02)  # polling a condition (the port), bounded by the deadline
