"""The pytest plugin: options, the run's server, and the database fixtures.

Registered as a ``pytest11`` entry point, so any test file in a checkout with
the package installed can ask for ``db_session`` and friends with no conftest
of its own. See ``docs/testing.md`` for examples.

Isolation, cheapest first:

- ``db_session`` / ``async_db_session``: one database per worker, cloned from
  the template once; each test runs inside an outer transaction that is rolled
  back after it, and the session's ``commit()`` only releases a savepoint
  (SQLAlchemy's ``join_transaction_mode="create_savepoint"``).
- ``db_clean`` / ``db_factory``: a database of the test's own, cloned from the
  template (``CREATE DATABASE ... TEMPLATE``) and dropped after it, for real
  commits seen by other connections, DDL, or several connections.

``@pytest.mark.db_template("migrated")`` starts a test from the migrated but
unseeded template (``"empty"``: not even migrated) instead of the seeded one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from bot_persistence.errors import BotPersistenceError
from bot_persistence.project import project_root
from bot_persistence.settings import Settings
from bot_persistence.testing.databases import TEMPLATE_KINDS, TemplateKind, TestDatabases
from bot_persistence.testing.server import (
    TEST_BACKENDS,
    RunDir,
    ServerChoice,
    choose_server,
    docker_server,
    sweep_stale_runs,
)

__all__ = [
    "TestDatabase",
    "async_db_session",
    "database",
    "db_clean",
    "db_engine",
    "db_factory",
    "db_session",
    "db_url",
    "savepoint_session",
]

_RUN_ID = "bot_persistence_run_id"
_OWNER_PID = "bot_persistence_owner_pid"
_SERVER_URL = "bot_persistence_server_url"
_DOCKER_MODULE = "bot_persistence.provision.docker"


# -- options and the run ------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bot-persistence", "test databases (bot_persistence.testing)")
    group.addoption(
        "--db-backend",
        choices=TEST_BACKENDS,
        default=None,
        help="where the test PostgreSQL comes from (default: BOT_DB_BACKEND, else a "
        "throw-away embedded server; --db-url or DATABASE_URL means external)",
    )
    group.addoption(
        "--db-url",
        default=None,
        metavar="URL",
        help="an existing server to create test databases on (e.g. a CI service "
        "container); its user must be allowed to create databases",
    )
    group.addoption(
        "--db-fresh-server",
        action="store_true",
        default=False,
        help="make the embedded server with initdb instead of reusing the data directory "
        "(and templates) the last run left in the cache",
    )


class _Run:
    """The run's server: chosen once per process, shared by the xdist workers of one run."""

    def __init__(self, config: pytest.Config) -> None:
        workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
        self.config = config
        self.is_owner = workerinput is None
        self.run_id: str = (
            workerinput[_RUN_ID] if workerinput and _RUN_ID in workerinput else uuid.uuid4().hex
        )
        self.owner_pid: int = (
            workerinput[_OWNER_PID] if workerinput and _OWNER_PID in workerinput else os.getpid()
        )
        self.given_url: str | None = workerinput.get(_SERVER_URL) if workerinput else None
        self._stack = contextlib.ExitStack()
        self._admin: Settings | None = None

    @functools.cached_property
    def choice(self) -> ServerChoice:
        try:
            return choose_server(
                self.config.getoption("db_backend"), self.config.getoption("db_url"), os.environ
            )
        except BotPersistenceError as exc:
            raise pytest.UsageError(str(exc)) from None

    @property
    def run_dir(self) -> RunDir:
        return RunDir(
            self.run_id,
            owner_pid=self.owner_pid,
            use_cache=not self.config.getoption("db_fresh_server"),
        )

    def admin(self) -> Settings:
        """Settings for a role that may create databases on the run's server."""
        if self._admin is not None:
            return self._admin
        choice = self.choice
        if self.given_url is not None:
            self._admin = _external(self.given_url)
        elif choice.backend == "external":
            assert choice.url is not None
            self._admin = _external(choice.url)
        elif choice.backend == "docker":
            try:
                self._admin = self._stack.enter_context(docker_server())
            except BotPersistenceError as exc:
                raise pytest.UsageError(str(exc)) from None
        else:
            sweep_stale_runs()
            self._admin = self.run_dir.embedded_server()
        return self._admin

    def close(self) -> None:
        self._stack.close()
        if self.is_owner and self.choice.backend == "embedded" and self.run_dir.path.exists():
            self.run_dir.purge()


def _external(url: str) -> Settings:
    return Settings.from_values(database_url=url, backend="external", environment="test")


_RUN_KEY = pytest.StashKey[_Run]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "db_template(kind): start the test's database from the 'seeded' (default), "
        "'migrated' (no seed rows) or 'empty' (not migrated) template",
    )
    run = _Run(config)
    config.stash[_RUN_KEY] = run
    # A wrong backend is a usage error before any test runs, in one line.
    if run.choice.backend == "docker" and importlib.util.find_spec(_DOCKER_MODULE) is None:
        raise pytest.UsageError(
            f"--db-backend docker needs {_DOCKER_MODULE}, which this checkout lacks; "
            "use --db-backend embedded or --db-url"
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_RUN_KEY, None)
    if run is not None:
        run.close()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: every worker gets the run id; a container is started once, here."""
    run = node.config.stash[_RUN_KEY]
    node.workerinput[_RUN_ID] = run.run_id
    node.workerinput[_OWNER_PID] = run.owner_pid
    if run.choice.backend == "docker":
        node.workerinput[_SERVER_URL] = run.admin().url.render_as_string(hide_password=False)


def pytest_report_header(config: pytest.Config) -> str | None:
    run = config.stash.get(_RUN_KEY, None)
    if run is None:
        return None
    try:
        choice = run.choice
    except pytest.UsageError:
        return None
    return f"test database: {choice.backend} ({choice.reason})"


# -- session-wide fixtures ------------------------------------------------------------------


@contextlib.contextmanager
def _readable() -> Iterator[None]:
    """Our typed errors (a broken migration, a server that will not start) as one line."""
    try:
        yield
    except BotPersistenceError as exc:
        pytest.fail(f"test database: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def db_server(pytestconfig: pytest.Config) -> Settings:
    """Settings for a role that may create databases on the run's server (override point)."""
    with _readable():
        return pytestconfig.stash[_RUN_KEY].admin()


@pytest.fixture(scope="session")
def db_databases(db_server: Settings, pytestconfig: pytest.Config) -> Iterator[TestDatabases]:
    """This process's databases on the server; left-overs of killed runs are dropped first."""
    run = pytestconfig.stash[_RUN_KEY]
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

    def engine(self, kind: TemplateKind) -> Engine:
        if kind not in self.engines:
            with _readable():
                name = self.databases.clone(kind, name=self.databases.new_name(f"w{kind[0]}_"))
            self.engines[kind] = create_engine(
                self.databases.settings_for(name).url, pool_size=2, max_overflow=8
            )
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


@_async_fixture
async def database(
    request: pytest.FixtureRequest, db_factory: Callable[..., TestDatabase]
) -> AsyncIterator[Any]:
    """The bot's async ``Database`` on a database of the test's own (a template clone)."""
    try:
        module = importlib.import_module("bot_persistence.db")
    except ImportError:
        pytest.skip("the async Database (bot_persistence.db) is not in this checkout")
    clean = db_factory(_kind(request))
    async with module.Database.connect(clean.settings) as db:
        yield db
