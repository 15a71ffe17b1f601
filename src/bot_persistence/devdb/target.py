"""What one ``bot-db`` command works on: the server, the database, the branch, the connections.

:class:`~bot_persistence.settings.Settings` say what is configured; a command
also needs to know what it works on. Alembic hands every command one
``Config``; we hand every command one :class:`Target`, built once at the CLI
edge (:meth:`Target.build`): the settings the server is started with, the
settings naming the database the command works on (this git branch's, when
branch databases apply), the branch, and the connections opened so far.

Connections open on first use and are shared by every step of the command,
then closed with the target: a warm ``bot-db up`` asks the server whether the
database is there, at head, empty, and healthy over one session instead of
one engine per question. Two at most: the maintenance database's, in
autocommit (CREATE/DROP/copy a database, the advisory lock that serialises
branch databases, which PostgreSQL keeps per database), and the target
database's. Both are psycopg connections in autocommit, so a read that fails
leaves nothing to roll back; :meth:`Target.sqlalchemy` lends the same session
to SQLAlchemy and Alembic, in transactions, for migrating and seeding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from bot_persistence.connection import MAINTENANCE_DATABASE, connect
from bot_persistence.devdb import branches
from bot_persistence.settings import Settings

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy import Connection, Engine

    from bot_persistence.devdb.branches import BranchTarget

__all__ = ["Target"]


class Target:
    """The server, the database and the branch one command works on, and its connections.

    ``server`` are the settings as configured: the server is started, stopped
    and administered with them (``POSTGRES_DB`` is the default branch's
    database). ``settings`` name the database the command works on: the
    branch's own when ``branch`` is set, else the configured one.
    """

    def __init__(self, settings: Settings, branch: BranchTarget | None = None) -> None:
        self.branch = branch
        self.server = branch.base if branch is not None else settings
        self.settings = branch.settings if branch is not None else settings
        self._admin: psycopg.Connection[Any] | None = None
        self._database: psycopg.Connection[Any] | None = None
        self._engine: Engine | None = None

    @classmethod
    def build(cls, settings: Settings, *, branch: bool = True) -> Target:
        """The target of a command run with ``settings``: the CLI edge calls this once.

        A ``DATABASE_URL`` that names our own managed server (``up`` suggests
        putting it in ``.env``) is dropped, so following that advice never turns
        the managed server into someone else's. With ``branch`` (commands that
        use the dev database), the current git branch's database is resolved
        from git alone, without contacting the server.
        """
        from bot_persistence.provision.selection import is_managed_url

        if is_managed_url(settings, branch_infix=branches.INFIX):
            settings = settings.model_copy(update={"database_url": None})
        return cls(settings, branches.resolve(settings) if branch else None)

    @property
    def database(self) -> str:
        """The name of the database the command works on."""
        return self.settings.database

    # -- connections ----------------------------------------------------------------------

    def admin(self, *, wait: bool = False) -> psycopg.Connection[Any]:
        """The autocommit connection to the server's maintenance database, opened once.

        ``wait`` retries while the server is still starting.
        """
        if self._admin is None or self._admin.closed:
            self._admin = connect(self.server, database=MAINTENANCE_DATABASE, wait=wait)
        return self._admin

    def connection(self, *, wait: bool = False) -> psycopg.Connection[Any]:
        """The autocommit connection to the target database, opened once.

        ``wait`` retries while the server is still starting (``up`` right after
        starting it). Raises our typed error (``DatabaseMissingError``...) when
        the database cannot be reached.
        """
        if self._database is None or self._database.closed:
            self._database = connect(self.settings, wait=wait)
        return self._database

    def other(self, database: str) -> psycopg.Connection[Any]:
        """A connection of its own to ``database`` on the same server; the caller closes it."""
        return connect(self.server, database=database)

    @contextlib.contextmanager
    def sqlalchemy(self) -> Iterator[Connection]:
        """The target database's session as a SQLAlchemy connection, for Alembic and the ORM.

        The same server session as :meth:`connection`, taken out of autocommit
        while lent: SQLAlchemy and Alembic begin and commit their own
        transactions on it. Whatever is left open when the block ends is rolled
        back, and the session returns to autocommit.
        """
        raw = self.connection()
        raw.autocommit = False
        try:
            with self._sqlalchemy_engine().connect() as conn:
                yield conn
        finally:
            if not raw.closed:
                raw.rollback()
                raw.autocommit = True

    def _sqlalchemy_engine(self) -> Engine:
        if self._engine is None:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import StaticPool

            raw = self.connection()
            # A pool of exactly this one session: nothing else is ever connected.
            self._engine = create_engine(
                "postgresql+psycopg://", creator=lambda: raw, poolclass=StaticPool
            )
        return self._engine

    def disconnect(self) -> None:
        """Close the target database's connection (before it is dropped, or renamed)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._database is not None:
            self._database.close()
            self._database = None

    def close(self) -> None:
        """Close every connection the command opened; the target can open them again."""
        self.disconnect()
        if self._admin is not None:
            self._admin.close()
            self._admin = None

    def __enter__(self) -> Target:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
