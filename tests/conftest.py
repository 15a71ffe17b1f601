"""Shared fixtures; the database fixtures come from our pytest plugin, helpers from helpers.py.

The plugin (``bot_persistence.testing``) gives the run a throw-away server on
tmpfs with durability off, and each test that asks for ``settings`` a database
of its own, created empty and dropped after, so tests never see each other's rows.
"""

from __future__ import annotations

import os
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


def _hypothesis_profiles() -> None:
    """Hypothesis: a small example budget on a laptop, a larger one in CI, thousands deep.

    HYPOTHESIS_PROFILE=ci is set by `nox -s tests` when CI is set; =deep by `nox -s
    properties` (once per CI run: thousands of examples per property). None has
    a per-example deadline: examples talk to a real server, whose first call in a
    test is slower than the rest. Without hypothesis (docs/testing.md's install,
    `.[embedded,testing]`) nothing is registered: `pytest --help` and a reader's
    own test file work; the property tests need the `test` group.
    """
    try:
        from hypothesis import settings as hypothesis_settings
    except ImportError:
        return
    hypothesis_settings.register_profile("dev", max_examples=40, deadline=None)
    hypothesis_settings.register_profile(
        "ci", max_examples=150, deadline=None, print_blob=True, derandomize=False
    )
    hypothesis_settings.register_profile(
        "deep", max_examples=2000, deadline=None, print_blob=True, derandomize=False
    )
    hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


_hypothesis_profiles()


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Take pytest-alembic's own binding of its built-in tests off, where it is installed.

    It binds them to tests/conftest.py through a collector that fails on pytest 9.2
    (it sets a node id pytest no longer has); tests/integration/test_alembic_builtin.py
    imports the built-in tests by name instead, the other way pytest-alembic
    documents, and its fixtures stay on. Done here rather than with its ini option,
    which pytest's --strict-config refuses where pytest-alembic is not installed
    (docs/testing.md's install).
    """
    binding = session.config.pluginmanager.get_plugin("pytest-alembic")
    if binding is not None:
        session.config.pluginmanager.unregister(binding)


def _nested_asked_for(config: pytest.Config, item: pytest.Item) -> bool:
    """True when a run asks for the nested-pytest tests: by marker, or by naming their file."""
    expression = config.option.markexpr or ""
    if "nested" in expression or "integration" in expression:
        return True
    named = {str(arg).split("::")[0] for arg in config.args}
    return any(str(item.path).endswith(name) for name in named if name.endswith(".py"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the ``nested`` tests that run pytest inside (pytester) unless asked for.

    Each runs pytest again, often in a process of its own with its own server:
    seconds apiece, and under coverage in every Python of ``nox -s tests`` most
    of its time. They run where the marker expression names them or
    ``integration`` (``nox -s integration`` runs ``-m integration``, which is
    how CI runs them), or where their file is named on the command line.
    """
    nested = [
        item
        for item in items
        if item.get_closest_marker("nested")
        and "pytester" in getattr(item, "fixturenames", ())
        and not _nested_asked_for(config, item)
    ]
    if nested:
        config.hook.pytest_deselected(items=nested)
        items[:] = [item for item in items if item not in set(nested)]
