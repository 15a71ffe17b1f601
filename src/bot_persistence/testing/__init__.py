"""Test databases for the bot's tests: a pytest plugin and the pieces it is made of.

The plugin (:mod:`bot_persistence.testing.plugin`) is registered as a
``pytest11`` entry point; its fixtures need no conftest. ``docs/testing.md``
shows them in use. Import types for annotations from here::

    from bot_persistence.testing import TestDatabase
"""

from bot_persistence.testing.databases import TEMPLATE_KINDS, TemplateKind, TestDatabases
from bot_persistence.testing.fixtures import TestDatabase, savepoint_session

__all__ = ["TEMPLATE_KINDS", "TemplateKind", "TestDatabase", "TestDatabases", "savepoint_session"]
