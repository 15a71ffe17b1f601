"""The fault-injection suite: real signals, real servers, real full disks.

Every test here is marked ``faults``. They are slow on purpose (each case runs
``bot-db`` as a process and kills something in the middle of it), so they run
only when asked for by marker: ``pytest -m faults`` (``nox -s faults``, and
``nox -s integration`` runs them too, which is how CI runs them). A plain
``pytest`` or ``pytest -m "not docker"`` deselects them, and says so.
"""

from __future__ import annotations

import pytest


def _asked_for(config: pytest.Config) -> bool:
    return "faults" in (config.option.markexpr or "")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if "tests/faults/" in item.nodeid.replace("\\", "/")]
    for item in ours:
        item.add_marker(pytest.mark.faults)
    if ours and not _asked_for(config):
        config.hook.pytest_deselected(items=ours)
        items[:] = [item for item in items if item not in ours]
