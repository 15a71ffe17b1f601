"""The dev database's workflows: up/down/reset, seeding, snapshots, health, smoke.

``lifecycle`` composes a server from ``provision``, the migrations and the
seeds into ``up`` and ``reset`` (re-exported here, loaded on first use so that
``from bot_persistence.devdb import health`` stays light); ``branches`` says
which database the checkout's git branch uses (``git`` asks git the questions)
and ``branch_databases`` copies, lists and prunes them on the server;
``target`` is what one command works on (the server, the database, the
branch and the connections it opened); ``copies`` copies a database;
``seeding``, ``snapshots``, ``health``, ``smoke``, ``guards`` and ``erd`` each
do one job for the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot_persistence.exports import lazy_exports

if TYPE_CHECKING:
    from bot_persistence.devdb.lifecycle import (
        UpReport,
        reset,
        reset_branch,
        table_counts,
        up,
    )

#: Public names that live in ``lifecycle``, loaded on first use.
_LAZY = dict.fromkeys(
    ("UpReport", "reset", "reset_branch", "table_counts", "up"),
    "bot_persistence.devdb.lifecycle",
)
__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = ["UpReport", "reset", "reset_branch", "table_counts", "up"]
