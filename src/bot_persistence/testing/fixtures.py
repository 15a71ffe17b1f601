"""The database fixtures: savepoint isolation, template clones, sync and async.

Isolation, cheapest first:

- ``db_session`` / ``async_db_session``: one database per worker, cloned from
  the template once; each test runs inside an outer transaction that is rolled
  back after it, and the session's ``commit()`` only releases a savepoint
  (SQLAlchemy's ``join_transaction_mode="create_savepoint"``).
- ``bot_db_session``: the repositories' own :class:`~bot_persistence.session.Session`
  on that database, in a savepoint of a transaction rolled back after the test.
- ``db_clean`` / ``db_factory``: a database of the test's own, cloned from the
  template (``CREATE DATABASE ... TEMPLATE``) and dropped after it, for real
  commits seen by other connections, DDL, or several connections.

``bot_db_database`` is the bot's ``Database`` on a database of the test's own
(``bot_db_settings`` names it; override that fixture to change pool sizes or
the template for a whole folder).

``@pytest.mark.db_template("migrated")`` starts a test from the migrated but
unseeded template (``"empty"``: not even migrated) instead of the seeded one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import psycopg
import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bot_persistence.db import Database
from bot_persistence.errors import BotPersistenceError
from bot_persistence.pool import Connection, Transaction, conninfo, pool_kwargs
from bot_persistence.project import project_root
from bot_persistence.session import Session as BotSession
from bot_persistence.settings import Settings
from bot_persistence.testing.databases import TEMPLATE_KINDS, TemplateKind, TestDatabases
from bot_persistence.testing.hooks import RUN_KEY

__all__ = [
    "TestDatabase",
    "async_db_session",
    "bot_db_database",
    "bot_db_session",
    "bot_db_settings",
    "database",
    "db_clean",
    "db_databases",
    "db_engine",
    "db_factory",
    "db_server",
    "db_session",
    "db_url",
    "savepoint_session",
]


# -- session-wide fixtures ------------------------------------------------------------------


@contextlib.contextmanager
def _readable() -> Iterator[None]:
    """Our typed errors (a broken migration, a server that will not start) as one line."""
    try:
        yield
    except BotPersistenceError as exc:
        # `from None`: the line says it all; the driver's chain would bury it.
        raise pytest.fail.Exception(f"test database: {exc}", pytrace=False) from None


@pytest.fixture(scope="session")
def db_server(pytestconfig: pytest.Config) -> Settings:
    """Settings for a role that may create databases on the run's server (override point)."""
    with _readable():
        return pytestconfig.stash[RUN_KEY].admin()


@pytest.fixture(scope="session")
def db_databases(db_server: Settings, pytestconfig: pytest.Config) -> Iterator[TestDatabases]:
    """This process's databases on the server; left-overs of killed runs are dropped first."""
    run = pytestconfig.stash[RUN_KEY]
    with _readable():
        databases = TestDatabases(
            db_server, run_id=run.run_id, root=project_root(pytestconfig.rootpath)
        )
        databases.sweep()
    try:
        yield databases
    finally:
        for name in databases.owned():
            databases.drop(name)
        databases.close()


class _WorkerDatabases:
    """One database per template kind for this process, made on first use, pooled."""

    def __init__(self, databases: TestDatabases) -> None:
        self.databases = databases
        self.engines: dict[TemplateKind, Engine] = {}
        self.names: dict[TemplateKind, str] = {}

    def settings(self, kind: TemplateKind) -> Settings:
        """Settings naming this worker's database of ``kind``, cloned on first use."""
        if kind not in self.names:
            with _readable():
                name = self.databases.clone(kind, name=self.databases.new_name(f"w{kind[0]}_"))
            self.names[kind] = name
        return self.databases.settings_for(self.names[kind])

    def engine(self, kind: TemplateKind) -> Engine:
        if kind not in self.engines:
            self.engines[kind] = create_engine(self.settings(kind).url, pool_size=2, max_overflow=8)
        return self.engines[kind]

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


@pytest.fixture(scope="session")
def _db_worker(db_databases: TestDatabases) -> Iterator[_WorkerDatabases]:
    worker = _WorkerDatabases(db_databases)
    try:
        yield worker
    finally:
        worker.close()


@pytest.fixture(scope="session")
def db_engine(_db_worker: _WorkerDatabases) -> Engine:
    """A pooled engine on this worker's seeded database (shared by every test: do not commit
    through it directly; use ``db_session``, or ``db_clean`` for real commits)."""
    return _db_worker.engine("seeded")


@pytest.fixture(scope="session")
def db_url(db_engine: Engine) -> URL:
    """The URL of this worker's seeded database (``str()`` hides the password)."""
    return db_engine.url


def _kind(request: pytest.FixtureRequest) -> TemplateKind:
    marker = request.node.get_closest_marker("db_template")
    if marker is None:
        return "seeded"
    kind = marker.args[0] if marker.args else marker.kwargs.get("kind", "seeded")
    if kind not in TEMPLATE_KINDS:
        raise pytest.UsageError(
            f"@pytest.mark.db_template({kind!r}): choose one of {', '.join(TEMPLATE_KINDS)}"
        )
    return cast(TemplateKind, kind)


# -- per-test fixtures ---------------------------------------------------------------------


@pytest.fixture
def db_session(request: pytest.FixtureRequest, _db_worker: _WorkerDatabases) -> Iterator[Session]:
    """A session whose work, ``commit()`` included, is rolled back after the test."""
    with savepoint_session(_db_worker.engine(_kind(request))) as session:
        yield session


@contextlib.contextmanager
def savepoint_session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back at the end.

    ``commit()`` in the session releases a savepoint instead of committing, so
    code under test may commit as it does in production.
    """
    with engine.connect() as connection:
        outer = connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@dataclasses.dataclass
class TestDatabase:
    """A database of one test's own: its name, Settings for it, and an engine on it."""

    __test__ = False

    name: str
    settings: Settings
    _engine: Engine | None = dataclasses.field(default=None, repr=False)

    @property
    def url(self) -> URL:
        """Its SQLAlchemy URL (``str()`` hides the password)."""
        return self.settings.url

    @property
    def engine(self) -> Engine:
        """An engine on it, made on first use and disposed after the test."""
        if self._engine is None:
            self._engine = create_engine(self.url, poolclass=NullPool)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


@pytest.fixture
def db_factory(db_databases: TestDatabases) -> Iterator[Callable[..., TestDatabase]]:
    """``db_factory(template="seeded")`` makes a database of the test's own; all are dropped
    after the test, their connections ended first."""
    made: list[TestDatabase] = []

    def make(template: TemplateKind = "seeded") -> TestDatabase:
        with _readable():
            name = db_databases.clone(template)
        made.append(TestDatabase(name, db_databases.settings_for(name)))
        return made[-1]

    try:
        yield make
    finally:
        for database_ in made:
            database_.close()
            db_databases.drop(database_.name)


@pytest.fixture
def db_clean(
    request: pytest.FixtureRequest, db_factory: Callable[..., TestDatabase]
) -> TestDatabase:
    """A fresh database cloned from the template, dropped after the test."""
    return db_factory(_kind(request))


# -- async ---------------------------------------------------------------------------------


def _async_fixture(function: Callable[..., Any]) -> Any:
    """A pytest-asyncio fixture; without pytest-asyncio, a fixture that skips saying so."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - the test dependency group has it
        name = function.__name__

        @pytest.fixture(name=name)
        def skipped() -> None:
            pytest.skip(f"{name} needs pytest-asyncio: pip install pytest-asyncio")

        return skipped
    return pytest_asyncio.fixture(function)


@_async_fixture
async def async_db_session(
    request: pytest.FixtureRequest, _db_worker: _WorkerDatabases
) -> AsyncIterator[AsyncSession]:
    """An AsyncSession whose work, ``commit()`` included, is rolled back after the test."""
    url = _db_worker.engine(_kind(request)).url
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            outer = await connection.begin()
            session = AsyncSession(
                bind=connection,
                join_transaction_mode="create_savepoint",
                expire_on_commit=False,
            )
            try:
                yield session
            finally:
                await session.close()
                await outer.rollback()
    finally:
        await engine.dispose()


@pytest.fixture
def bot_db_settings(
    request: pytest.FixtureRequest, db_factory: Callable[..., TestDatabase]
) -> Settings:
    """Settings naming a database of the test's own, cloned from the template (override point).

    ``bot_db_database`` opens the bot's ``Database`` with them; a conftest that
    overrides this fixture changes what every such test gets (a pool size, a
    template), without writing the ``Database`` fixture again.
    """
    return db_factory(_kind(request)).settings


@_async_fixture
async def bot_db_database(bot_db_settings: Settings) -> AsyncIterator[Database]:
    """The bot's async ``Database`` on ``bot_db_settings``' database; closed after the test."""
    async with Database.connect(bot_db_settings) as db:
        yield db


@_async_fixture
async def database(bot_db_database: Database) -> AsyncIterator[Database]:
    """Deprecated name of ``bot_db_database`` (``database`` collides with a project's own)."""
    warnings.warn(
        "the `database` fixture of bot_persistence's pytest plugin is now `bot_db_database`",
        DeprecationWarning,
        stacklevel=2,
    )
    yield bot_db_database


class _Savepoints:
    """What a test's :class:`Session` begins on: a savepoint of one connection's transaction.

    The connection's own transaction is rolled back after the test, so what the
    repositories wrote there, committed savepoints included, is gone.
    """

    def __init__(self, conn: Connection, settings: Settings) -> None:
        self.conn = conn
        self.settings = settings

    async def begin(self) -> tuple[Connection, Transaction]:
        savepoint = Transaction(self.conn)  # a SAVEPOINT: the connection is in a transaction
        await savepoint.__aenter__()
        return self.conn, savepoint

    async def end(
        self, conn: Connection, transaction: Transaction, error: BaseException | None
    ) -> None:
        if error is None:
            await transaction.__aexit__(None, None, None)
        else:
            await transaction.__aexit__(type(error), error, error.__traceback__)


@_async_fixture
async def bot_db_session(
    request: pytest.FixtureRequest, _db_worker: _WorkerDatabases
) -> AsyncIterator[BotSession]:
    """The repositories' own ``Session``, in a savepoint rolled back after the test.

    On this worker's database (no clone per test), so it costs one connection.
    A statement that fails aborts the session, as it aborts a unit of work in
    the bot: after an expected error, check what it says and end the test, or
    use ``bot_db_database`` for units of work of their own.
    """
    settings = _db_worker.settings(_kind(request))
    async with (
        await psycopg.AsyncConnection.connect(conninfo(settings), **pool_kwargs(settings)) as conn,
        conn.transaction(force_rollback=True),
    ):
        session = BotSession(_Savepoints(conn, settings))
        try:
            yield session
        finally:
            await session.end(psycopg.Rollback())  # back to the savepoint, then the rest
