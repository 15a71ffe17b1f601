"""A server someone else runs: the ``DATABASE_URL`` a user gives (managed, CI service).

We never start, stop, create or drop it; ``up`` only connects to it.
"""

from __future__ import annotations

from bot_persistence.provision.base import Backend, BackendStatus, ServerReady

__all__ = ["ExternalBackend"]


class ExternalBackend(Backend):
    """The configured URL, used as it is."""

    name = "external"
    owns_server = False

    def up(self) -> ServerReady:
        # Whether it answers is found by the command's first connection, which waits.
        return ServerReady(created=False, started=False, detail=self.settings.masked_url)

    def down(self, *, purge: bool = False) -> str:
        return (
            f"nothing to stop: the server at {self.settings.host}:{self.settings.port} "
            "is not managed by bot-db"
        )

    def status(self) -> BackendStatus:
        return BackendStatus(running=True, detail=f"external server at {self.settings.masked_url}")
