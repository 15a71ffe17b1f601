"""The plugin's options and hooks: which server a run uses, and one per xdist run.

The controller (or the only process, without xdist) owns the run: it makes the
run id, hands it to every worker, and stops the embedded server when the run
ends. Workers start the server lazily, the first one under a file lock (see
:mod:`bot_persistence.testing.server`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import uuid
from typing import Any

import pytest

from bot_persistence.errors import BotPersistenceError
from bot_persistence.settings import Settings
from bot_persistence.testing.server import (
    TEST_BACKENDS,
    RunDir,
    ServerChoice,
    choose_server,
    docker_server,
    sweep_stale_runs,
)

__all__ = [
    "RUN_KEY",
    "option",
    "pytest_addoption",
    "pytest_configure",
    "pytest_configure_node",
    "pytest_report_header",
    "pytest_unconfigure",
]

_RUN_ID = "bot_persistence_run_id"
_OWNER_PID = "bot_persistence_owner_pid"
_SERVER_URL = "bot_persistence_server_url"


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
        "--db-pg",
        type=int,
        default=None,
        metavar="MAJOR",
        help="run on PostgreSQL MAJOR: a container through testcontainers where a Docker "
        "engine answers (pulled if absent), else the embedded server, saying so",
    )
    group.addoption(
        "--db-fresh-server",
        action="store_true",
        default=False,
        help="make the embedded server with initdb instead of reusing the data directory "
        "(and templates) the last run left in the cache",
    )
    # Each option is also an ini setting of the same name (`db_pg = 16` under
    # [tool.pytest.ini_options]), as pytest-postgresql does; the command line wins.
    parser.addini("db_backend", "default of --db-backend", default=None)
    parser.addini("db_url", "default of --db-url", default=None)
    parser.addini("db_pg", "default of --db-pg (a PostgreSQL major)", default=None)
    parser.addini("db_fresh_server", "default of --db-fresh-server", type="bool", default=False)


def option(config: pytest.Config, name: str) -> Any:
    """The command line's value of ``name``, else the ini file's, else None."""
    given = config.getoption(name)
    if given not in (None, False):
        return given
    value = config.getini(name)
    if name == "db_pg" and value:
        try:
            return int(value)
        except ValueError:
            raise pytest.UsageError(f"db_pg = {value!r} in the ini file is not a major") from None
    return value or given


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
                option(self.config, "db_backend"),
                option(self.config, "db_url"),
                os.environ,
                major=option(self.config, "db_pg"),
            )
        except BotPersistenceError as exc:
            raise pytest.UsageError(str(exc)) from None

    @property
    def run_dir(self) -> RunDir:
        return RunDir(
            self.run_id,
            owner_pid=self.owner_pid,
            use_cache=not option(self.config, "db_fresh_server"),
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
                self._admin = self._stack.enter_context(docker_server(choice.image))
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


RUN_KEY = pytest.StashKey[_Run]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "db_template(kind): start the test's database from the 'seeded' (default), "
        "'migrated' (no seed rows) or 'empty' (not migrated) template",
    )
    run = _Run(config)
    config.stash[RUN_KEY] = run


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        run.close()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: every worker gets the run id; a container is started once, here."""
    run = node.config.stash[RUN_KEY]
    node.workerinput[_RUN_ID] = run.run_id
    node.workerinput[_OWNER_PID] = run.owner_pid
    if run.choice.backend == "docker":
        node.workerinput[_SERVER_URL] = run.admin().url.render_as_string(hide_password=False)


def pytest_report_header(config: pytest.Config) -> str | None:
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return None
    try:
        choice = run.choice
    except pytest.UsageError:
        return None
    return f"test database: {choice.backend} ({choice.reason})"
