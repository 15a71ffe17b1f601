"""The pytest plugin (a ``pytest11`` entry point): options, hooks and database fixtures.

Any test file in a checkout with the package installed can ask for
``db_session``, ``bot_db_session`` and friends with no conftest of its own;
``docs/testing.md`` shows them in use. Hooks live in
:mod:`~bot_persistence.testing.hooks`, fixtures in
:mod:`~bot_persistence.testing.fixtures`; pytest finds both here, by the names
each module lists in its ``__all__``.
"""

from bot_persistence.testing.fixtures import *  # noqa: F403 - every fixture is the plugin's
from bot_persistence.testing.fixtures import _db_worker  # noqa: F401 - the fixtures' own helper
from bot_persistence.testing.hooks import *  # noqa: F403 - every hook is the plugin's
