"""The pytest plugin (a ``pytest11`` entry point): options, hooks and database fixtures.

Any test file in a checkout with the package installed can ask for
``db_session``, ``bot_db_session`` and friends with no conftest of its own; ``docs/testing.md``
shows them in use. Hooks live in :mod:`~bot_persistence.testing.hooks`, fixtures
in :mod:`~bot_persistence.testing.fixtures`; pytest finds both here.
"""

from bot_persistence.testing.fixtures import (
    TestDatabase,
    _db_worker,
    async_db_session,
    bot_db_database,
    bot_db_session,
    bot_db_settings,
    database,
    db_clean,
    db_databases,
    db_engine,
    db_factory,
    db_server,
    db_session,
    db_url,
    savepoint_session,
)
from bot_persistence.testing.hooks import (
    pytest_addoption,
    pytest_configure,
    pytest_configure_node,
    pytest_report_header,
    pytest_unconfigure,
)

__all__ = [
    "TestDatabase",
    "_db_worker",
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
    "pytest_addoption",
    "pytest_configure",
    "pytest_configure_node",
    "pytest_report_header",
    "pytest_unconfigure",
    "savepoint_session",
]
