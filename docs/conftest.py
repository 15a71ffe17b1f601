"""The Python examples of docs/testing.md, run by sybil as pytest items (a failing one is a bug).

sybil finds each ``python`` code block and runs it in one namespace per page.
Each block imports what it uses, as a reader's test file would: with xdist a
page's blocks may run on different workers, each with a namespace of its own. An example defines
``test_*`` functions the way a reader's test file would; after a block runs,
each function it defined is called with the fixtures its parameters name,
from our pytest plugin, as pytest itself would call it: its
``@pytest.mark.db_template`` mark is put on the item first, and a coroutine is
run on the loop pytest-asyncio made for the async fixture.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sybil import Example

_HERE = Path(__file__).parent


def call_defined_tests(example: Example) -> None:
    """Run the block, then call each ``test_*`` function it defined with its fixtures."""
    from sybil.evaluators.python import PythonEvaluator

    before = dict(example.namespace)
    PythonEvaluator()(example)
    request: pytest.FixtureRequest = example.namespace["request"]
    for name, value in list(example.namespace.items()):
        if not name.startswith("test_") or not callable(value) or before.get(name) is value:
            continue
        for mark in getattr(value, "pytestmark", []):
            decorator = getattr(pytest.mark, mark.name)(*mark.args, **mark.kwargs)
            request.node.add_marker(decorator, append=False)  # the nearest mark wins
        arguments = {
            parameter: request.getfixturevalue(parameter)
            for parameter in inspect.signature(value).parameters
        }
        result = value(**arguments)
        if inspect.iscoroutine(result):
            asyncio.get_event_loop().run_until_complete(result)


# sybil comes with the `test` group; with docs/testing.md's own install
# (`.[embedded,testing]`) the examples are not collected, and pytest still starts.
if importlib.util.find_spec("sybil") is not None:
    from sybil import Sybil
    from sybil.parsers.markdown import CodeBlockParser

    pytest_collect_file = Sybil(
        parsers=[CodeBlockParser(language="python", evaluator=call_defined_tests)],
        patterns=["testing.md"],
        fixtures=["request"],
    ).pytest()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The examples talk to the plugin's real PostgreSQL, as tests/integration does."""
    for item in items:
        if item.path.parent == _HERE:
            item.add_marker(pytest.mark.integration)
