"""The dev database's workflows: up/down/reset, seeding, snapshots, health, smoke.

``lifecycle`` composes a server from ``provision``, the migrations and the
seeds into ``up`` and ``reset`` (re-exported here, loaded on first use so that
``from bot_persistence.devdb import health`` stays light); ``branches`` says
which database the checkout's git branch uses (``git`` asks git the questions)
and ``branch_databases`` copies, lists and prunes them on the server;
``seeding``, ``snapshots``, ``health``, ``smoke``, ``guards`` and ``erd`` each
do one job for the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot_persistence.devdb.lifecycle import (
        UpReport,
        drop_database,
        reset,
        reset_branch,
        table_counts,
        up,
    )

_LIFECYCLE = frozenset({"UpReport", "drop_database", "reset", "reset_branch", "table_counts", "up"})


def __getattr__(name: str) -> Any:
    """Load ``lifecycle`` when one of its names is first asked for (PEP 562)."""
    if name not in _LIFECYCLE:
        raise AttributeError(f"module 'bot_persistence.devdb' has no attribute {name!r}")
    from bot_persistence.devdb import lifecycle

    value = getattr(lifecycle, name)
    globals()[name] = value
    return value


__all__ = ["UpReport", "drop_database", "reset", "reset_branch", "table_counts", "up"]
