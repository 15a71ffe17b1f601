"""A server someone else runs: the ``DATABASE_URL`` a user gives (managed, CI service).

We never start, stop, create or drop it; ``up`` only proves it answers.
"""

from __future__ import annotations

from sqlalchemy import text

from bot_persistence.connection import sync_engine, wait_until_ready
from bot_persistence.provision.base import Backend, BackendStatus, ServerReady

__all__ = ["ExternalBackend"]


class ExternalBackend(Backend):
    """The configured URL, used as it is."""

    name = "external"
    owns_server = False

    def up(self) -> ServerReady:
        engine = sync_engine(self.settings)
        try:

            def probe() -> None:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))

            wait_until_ready(probe, self.settings)
        finally:
            engine.dispose()
        return ServerReady(created=False, started=False, detail=self.settings.masked_url)

    def down(self, *, purge: bool = False) -> str:
        return (
            f"nothing to stop: the server at {self.settings.host}:{self.settings.port} "
            "is not managed by bot-db"
        )

    def status(self) -> BackendStatus:
        return BackendStatus(running=True, detail=f"external server at {self.settings.masked_url}")
