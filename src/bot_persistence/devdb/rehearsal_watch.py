"""What a revision does to the server while it runs: its locks, who waits on it, what it rewrote.

A :class:`LockWatch` samples the server every few milliseconds from a
connection of its own while a revision runs:

- the migrating session is the one holding the migration advisory lock
  (:data:`~bot_persistence.migrations.runner.MIGRATION_LOCK_KEY`), which every
  migration run takes, so it is found whatever opened it;
- its locks on tables (``pg_locks``: mode and table; not on indexes, the
  catalogue or Alembic's version table) are collected;
- every other session waiting on a lock is checked: when the migrating
  session is among its blockers, directly or through a chain of waiters
  (``pg_blocking_pids``), how long it has waited (``waitstart``, PostgreSQL
  14+) counts as the bot being blocked by the revision, with the statement it
  was running. Waits between the bot's own calls (two ``add_track`` on one
  playlist) are not the revision's doing and are left out.

:func:`relations` reads each table's file node and row estimate: a table
whose file node changed across a revision was rewritten, with about that
many rows.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import psycopg

from bot_persistence.migrations.runner import MIGRATION_LOCK_KEY

__all__ = ["Blocked", "LockWatch", "relations", "rewritten"]

_SAMPLE = """
SELECT l.pid, l.mode,
       CASE WHEN c.relkind IN ('r', 'p', 'm') THEN c.relname END,
       l.granted,
       extract(epoch FROM clock_timestamp() - l.waitstart) * 1000,
       CASE WHEN l.granted THEN NULL ELSE pg_blocking_pids(l.pid) END,
       a.query
FROM pg_locks AS l
LEFT JOIN pg_stat_activity AS a ON a.pid = l.pid
LEFT JOIN pg_class AS c ON c.oid = l.relation
WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.pid <> pg_backend_pid()
  AND (NOT l.granted OR l.locktype IN ('relation', 'advisory'))
"""

#: The advisory lock's key as pg_locks shows it: high and low 32 bits.
_KEY = (MIGRATION_LOCK_KEY >> 32, MIGRATION_LOCK_KEY & 0xFFFFFFFF)


@dataclasses.dataclass(frozen=True)
class Blocked:
    """The longest wait of a bot session on the migrating one: how long, on what statement."""

    ms: float
    query: str


class LockWatch:
    """Samples locks and waits in a thread of its own between :meth:`start` and :meth:`stop`."""

    def __init__(self, conninfo: str, *, interval: float = 0.005) -> None:
        self.conninfo = conninfo
        self.interval = interval
        self.locks: set[tuple[str, str]] = set()
        self.blocked: Blocked | None = None
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Sample from now on, in a thread of its own."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="bot-db-lock-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Take a last sample and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self._stop.is_set():
                self._sample(conn)
                self._stop.wait(self.interval)
            self._sample(conn)

    def _sample(self, conn: psycopg.Connection[Any]) -> None:
        rows = conn.execute(_SAMPLE).fetchall()
        self.samples += 1
        migrator = self._migrator(conn)
        if migrator is None:
            return
        waits: dict[int, tuple[float, list[int], str]] = {}
        for pid, mode, relation, granted, waited, blockers, query in rows:
            bookkeeping = relation is None or relation.startswith(("pg_", "alembic_version"))
            if pid == migrator and granted and not bookkeeping:
                self.locks.add((str(mode), str(relation)))
            elif not granted and waited is not None:
                waits[pid] = (float(waited), list(blockers or ()), str(query or ""))
        for pid, (waited, _, query) in waits.items():
            longest = self.blocked is None or waited > self.blocked.ms
            if longest and pid != migrator and self._waits_on(pid, migrator, waits, set()):
                self.blocked = Blocked(waited, " ".join(query.split())[:200])

    def _migrator(self, conn: psycopg.Connection[Any]) -> int | None:
        found = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s AND objid = %s",
            _KEY,
        ).fetchone()
        return int(found[0]) if found else None

    def _waits_on(
        self,
        pid: int,
        migrator: int,
        waits: dict[int, tuple[float, list[int], str]],
        seen: set[int],
    ) -> bool:
        """True when ``pid`` waits on ``migrator``, directly or behind other waiters."""
        if pid in seen or pid not in waits:
            return False
        seen.add(pid)
        blockers = waits[pid][1]
        return migrator in blockers or any(
            self._waits_on(blocker, migrator, waits, seen) for blocker in blockers
        )


def relations(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, float]]:
    """Each table of the current schema: its file node and estimated row count."""
    rows = conn.execute(
        "SELECT c.relname, c.relfilenode, c.reltuples FROM pg_class AS c "
        "WHERE c.relkind IN ('r', 'm') AND c.relnamespace = current_schema()::regnamespace"
    ).fetchall()
    return {str(name): (int(node), float(tuples)) for name, node, tuples in rows}


def rewritten(
    before: dict[str, tuple[int, float]], after: dict[str, tuple[int, float]]
) -> dict[str, int]:
    """Tables present before and after whose file node changed: name -> rows (estimated)."""
    return {
        name: max(0, int(tuples))
        for name, (node, tuples) in before.items()
        if name in after and after[name][0] != node
    }
