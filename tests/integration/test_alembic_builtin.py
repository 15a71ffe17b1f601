"""pytest-alembic's built-in migration checks, on our revisions, against the plugin's PostgreSQL.

The four tests pytest-alembic runs by default, imported by name: the history
has a single head, it upgrades from an empty database to head, the models
match the DDL the migrations produce (autogenerate finds nothing to add), and
every revision downgrades and upgrades again. Each runs on an empty database
of its own, cloned by our pytest plugin on the run's real PostgreSQL server.

What pytest-alembic does not check stays in the roundtrip
(``migrations/roundtrip.py``, ``test_roundtrip.py``): the catalogue-level
stairway compare (enum values, constraint and index definitions), seeds
surviving each upgrade, squawk on each revision's SQL, and the
``irreversible``/``rewrites_data`` exemptions.
"""

from __future__ import annotations

import pytest
from alembic.config import Config
from pytest_alembic.tests import (
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)
from sqlalchemy import Engine

from bot_persistence import migrations
from bot_persistence.testing import TestDatabase

__all__ = [
    "test_model_definitions_match_ddl",
    "test_single_head_revision",
    "test_up_down_consistency",
    "test_upgrade",
]


@pytest.fixture
def empty_database(db_factory: object) -> TestDatabase:
    """A database of the test's own with nothing in it, not even Alembic's version table."""
    assert callable(db_factory)
    database = db_factory("empty")
    assert isinstance(database, TestDatabase)
    return database


@pytest.fixture
def alembic_engine(empty_database: TestDatabase) -> Engine:
    """What pytest-alembic migrates: it hands the engine to alembic/env.py."""
    return empty_database.engine


@pytest.fixture
def alembic_config(empty_database: TestDatabase) -> Config:
    """The project's Alembic configuration, as ``bot-db`` builds it (no logging set-up)."""
    return migrations.alembic_config(empty_database.settings)
