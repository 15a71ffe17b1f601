"""What :meth:`bot_persistence.Database.stats` reports: the pool and the units of work.

A snapshot of plain integers, cheap to take (no round trip to the server), for
a metrics exporter to read every few seconds or a log line to print: the
pool's own counters (psycopg_pool's ``get_stats``) and ours. Counters
(``*_total``) only grow while the Database is open; the rest are levels now.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

__all__ = ["DatabaseStats"]


@dataclasses.dataclass(frozen=True)
class DatabaseStats:
    """The bot's database at one moment; :meth:`as_dict` for a metrics exporter."""

    #: Connections the pool holds now (idle and in use), and its bounds.
    pool_size: int
    pool_min: int
    pool_max: int
    #: Connections serving a unit of work now.
    in_use: int
    #: Connections idle in the pool now.
    idle: int
    #: Units of work waiting for a connection now.
    waiting: int
    #: Units of work running now.
    units_running: int
    #: Units of work finished since the Database opened, those that ended with an
    #: error, and those longer than BOT_DB_SLOW_UNIT_MS.
    units_total: int
    units_failed_total: int
    units_slow_total: int
    #: Connection attempts that failed, and connections found broken, since it opened.
    connection_errors_total: int
    connections_lost_total: int

    @classmethod
    def of(
        cls,
        pool: Mapping[str, int],
        *,
        in_use: int,
        units_running: int,
        units_total: int,
        units_failed_total: int,
        units_slow_total: int,
    ) -> DatabaseStats:
        """From psycopg_pool's ``get_stats()`` (which leaves out zero counters) and ours."""
        return cls(
            pool_size=pool.get("pool_size", 0),
            pool_min=pool.get("pool_min", 0),
            pool_max=pool.get("pool_max", 0),
            in_use=in_use,
            idle=pool.get("pool_available", 0),
            waiting=pool.get("requests_waiting", 0),
            units_running=units_running,
            units_total=units_total,
            units_failed_total=units_failed_total,
            units_slow_total=units_slow_total,
            connection_errors_total=pool.get("connections_errors", 0),
            connections_lost_total=pool.get("connections_lost", 0),
        )

    def as_dict(self) -> dict[str, int]:
        """``{"pool_size": 5, "in_use": 1, ...}``: one gauge or counter per key."""
        return dataclasses.asdict(self)
