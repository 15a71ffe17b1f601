"""Containers we own, and their removal whatever happens to the run that started them.

The reaper container testcontainers brings (Ryuk) cannot be pulled where no
registry is reachable, and one mechanism everywhere is easier to trust, so
cleanup is ours:

- every container we start carries labels naming its role and its owner (host
  name, process id, and that process's start time, which tells it from a later
  process reusing the pid);
- a held container is removed when its holder leaves, also on Ctrl-C and on
  SIGTERM/SIGHUP (turned into ``SystemExit`` so ``finally`` blocks run), and an
  ``atexit`` hook removes whatever is still held;
- a process killed outright (``kill -9``) cannot clean up, so every start
  first removes throw-away containers whose owner process is gone.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from bot_persistence.provision.base import pid_alive

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

__all__ = [
    "LABEL_OWNER",
    "LABEL_PORT",
    "LABEL_ROLE",
    "ROLE_DEV",
    "ROLE_THROWAWAY",
    "hold",
    "owner_alive",
    "owner_label",
    "owner_labels",
    "release",
    "remove",
    "remove_stale_containers",
    "removed_on_termination",
    "start_time",
]

_log = logging.getLogger(__name__)

LABEL_ROLE = "org.bot-persistence.role"
LABEL_OWNER = "org.bot-persistence.owner"
LABEL_PORT = "org.bot-persistence.port"
#: A server for one run, removed when the run ends.
ROLE_THROWAWAY = "throwaway"
#: ``bot-db up --backend docker``'s server, removed by ``bot-db down``.
ROLE_DEV = "dev"

#: Containers held by this process and not yet removed: the atexit hook's list.
_HELD: dict[str, Container] = {}
_HELD_LOCK = threading.Lock()


# -- who owns a container --------------------------------------------------------


def start_time(pid: int) -> str:
    """A token that tells a process from a later one that reuses its pid."""
    try:
        import psutil

        return f"{psutil.Process(pid).create_time():.2f}"
    except ImportError:  # pragma: no cover - psutil comes with the embedded extra
        stat = Path(f"/proc/{pid}/stat")
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[19]
        except (OSError, IndexError):
            return ""
    except Exception:  # psutil.NoSuchProcess, AccessDenied, ZombieProcess
        return "gone"


def owner_label() -> str:
    """``host:pid:start-time`` of this process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_time(pid)}"


def owner_alive(label: str) -> bool:
    """True unless the container's owner was a process on this host that no longer runs.

    Containers from another host (a shared engine) are never ours to judge.
    """
    host, _, rest = label.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    return pid_alive(pid) and start_time(pid) == started


def owner_labels(role: str, port: int | None = None) -> dict[str, str]:
    """The labels a new container of ``role`` started by this process carries."""
    return {LABEL_ROLE: role, LABEL_OWNER: owner_label(), LABEL_PORT: str(port or "")}


# -- removal ---------------------------------------------------------------------------


def remove_stale_containers(client: docker.DockerClient) -> list[str]:
    """Remove throw-away containers whose owner process has died; their short ids.

    A run killed with SIGKILL leaves its container behind; the next run calls this.
    """
    import docker.errors

    removed = []
    for container in client.containers.list(
        all=True, filters={"label": f"{LABEL_ROLE}={ROLE_THROWAWAY}"}
    ):
        owner = container.labels.get(LABEL_OWNER, "")
        if owner_alive(owner):
            continue
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True, v=True)
            removed.append(container.short_id)
            _log.info("removed container %s of a run that ended (%s)", container.short_id, owner)
    return removed


def remove(container: Container) -> None:
    """Remove ``container`` and its anonymous volumes; gone already is fine."""
    import docker.errors

    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        container.remove(force=True, v=True)


def hold(container: Container) -> None:
    """Remember ``container`` for the atexit hook until :func:`release`."""
    with _HELD_LOCK:
        _HELD[container.id] = container


def release(container: Container) -> None:
    """Forget ``container``: its holder removes it now."""
    with _HELD_LOCK:
        _HELD.pop(container.id, None)


def _remove_held() -> None:
    """atexit: remove every container this process still holds."""
    with _HELD_LOCK:
        containers = list(_HELD.values())
        _HELD.clear()
    for container in containers:
        remove(container)


atexit.register(_remove_held)


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def removed_on_termination() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``SystemExit`` while a container is held.

    Python's default for these is to die without running ``finally`` blocks or
    atexit hooks. Only handlers still at their default are replaced (a test
    runner's or an application's own stay), and only from the main thread,
    where signal handlers live.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    replaced: dict[int, Any] = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            replaced[signum] = signal.signal(signum, _exit_on_signal)
    try:
        yield
    finally:
        for signum, previous in replaced.items():
            signal.signal(signum, previous)
