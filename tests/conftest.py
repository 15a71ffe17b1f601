"""Shared fixtures; the database fixtures come from our pytest plugin, helpers from helpers.py.

The plugin (``bot_persistence.testing``) gives the run a throw-away server on
tmpfs with durability off, and each test that asks for ``settings`` a database
of its own, created empty and dropped after, so tests never see each other's rows.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot_persistence.settings import Settings
from bot_persistence.testing import TestDatabase

pytest_plugins = ["pytester"]


@pytest.fixture
def settings(db_factory: Callable[..., TestDatabase]) -> Settings:
    """Settings naming a fresh, empty database of this test's own on the run's server.

    The server and the clean-up come from the project's pytest plugin
    (``bot_persistence.testing``); the database is dropped after the test.
    """
    return db_factory("empty").settings
