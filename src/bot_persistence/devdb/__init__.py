"""The dev database's workflows: up/down/reset, seeding, snapshots, health, smoke.

``lifecycle`` composes a server from ``provision``, the migrations and the
seeds into ``up`` and ``reset`` (re-exported here); ``branches`` says which
database the checkout's git branch uses (``git`` asks git the questions) and
``branch_databases`` copies, lists and prunes them on the server; ``seeding``,
``snapshots``, ``health``, ``smoke``, ``guards`` and ``erd`` each do one job
for the command line.
"""

from bot_persistence.devdb.lifecycle import (
    UpReport,
    drop_database,
    reset,
    reset_branch,
    table_counts,
    up,
)

__all__ = ["UpReport", "drop_database", "reset", "reset_branch", "table_counts", "up"]
