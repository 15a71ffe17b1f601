"""Shared fixtures; the database fixtures come from our pytest plugin, helpers from helpers.py.

The plugin (``bot_persistence.testing``) gives the run a throw-away server on
tmpfs with durability off, and each test that asks for ``settings`` a database
of its own, created empty and dropped after, so tests never see each other's rows.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from hypothesis import settings as hypothesis_settings

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


# Hypothesis: a small example budget on a laptop, a larger one in CI (HYPOTHESIS_PROFILE=ci,
# set by `nox -s tests` when CI is set), and thousands per property in the deep run
# (HYPOTHESIS_PROFILE=deep, `nox -s properties`, once per CI run). None has a per-example
# deadline: examples talk to a real server, whose first call in a test is slower.
hypothesis_settings.register_profile("dev", max_examples=40, deadline=None)
hypothesis_settings.register_profile(
    "ci", max_examples=150, deadline=None, print_blob=True, derandomize=False
)
hypothesis_settings.register_profile(
    "deep", max_examples=2000, deadline=None, print_blob=True, derandomize=False
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
