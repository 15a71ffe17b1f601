"""Test databases for the bot's tests: a pytest plugin and the pieces it is made of.

The plugin (:mod:`bot_persistence.testing.plugin`) is registered as a
``pytest11`` entry point; its fixtures need no conftest. ``docs/testing.md``
shows them in use.
"""

from bot_persistence.testing.databases import TEMPLATE_KINDS, TemplateKind, TestDatabases

__all__ = ["TEMPLATE_KINDS", "TemplateKind", "TestDatabases"]
