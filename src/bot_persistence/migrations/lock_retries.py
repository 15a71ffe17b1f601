"""A migration waits for a table's lock briefly, then steps aside and tries again.

``ALTER TABLE`` takes an ``ACCESS EXCLUSIVE`` lock. Behind a long transaction
it waits in the table's lock queue, and every later statement on the table,
the bot's reads included, queues behind *it*: a deploy stalls the bot for as
long as the oldest transaction lasts. So every migration run (deploy, migrate,
start-up, roundtrip) sets a short ``lock_timeout``
(``BOT_DB_MIGRATION_LOCK_TIMEOUT_MS``): a revision that waits longer is
cancelled and rolled back, the queued calls go through, and after a growing
pause the revision is tried again, a bounded number of times
(``BOT_DB_MIGRATION_LOCK_RETRIES``), as GitLab's ``with_lock_retries`` does.
Then the run gives up in one line naming the session in the way (its pid,
``application_name`` and how long its transaction has been open), sampled from
``pg_stat_activity`` and ``pg_blocking_pids`` while the revision waited.

The migration's own ``statement_timeout`` (``BOT_DB_MIGRATION_STATEMENT_TIMEOUT_MS``,
none by default) is separate: a backfill may rightly run for minutes, holding
locks it already has; what must stay short is the wait for a lock.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from bot_persistence.connection import application_name, connect_kwargs
from bot_persistence.errors import LockTimeoutError
from bot_persistence.settings import Settings

__all__ = [
    "Blocker",
    "BlockerWatch",
    "LockWaitTimedOut",
    "is_lock_timeout",
    "lock_safe",
    "reset_timeouts",
    "timeout_statements",
    "with_lock_retries",
]

_log = logging.getLogger(__name__)
T = TypeVar("T")

#: Pause before the second attempt; it doubles up to ``_MAX_PAUSE``.
_FIRST_PAUSE = 0.5
_MAX_PAUSE = 8.0

_BLOCKERS = """
SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
       extract(epoch FROM clock_timestamp() - a.xact_start)::float8
FROM pg_stat_activity AS a
WHERE a.pid = ANY (pg_blocking_pids(%s))
ORDER BY a.xact_start
"""


@dataclasses.dataclass(frozen=True)
class Blocker:
    """A session holding a lock a migration waited for."""

    pid: int
    application_name: str
    state: str
    #: Seconds its transaction had been open when it was seen; ``None`` outside one.
    transaction_seconds: float | None

    def describe(self) -> str:
        """``pid 4242 (application_name 'bot-persistence', idle in transaction, open 25 s)``."""
        name = (
            f"application_name {self.application_name!r}"
            if self.application_name
            else ("no application_name")
        )
        age = (
            f", transaction open {self.transaction_seconds:.0f} s"
            if self.transaction_seconds is not None
            else ""
        )
        return f"pid {self.pid} ({name}, {self.state or 'state unknown'}{age})"


class LockWaitTimedOut(Exception):
    """A revision waited longer than the lock timeout (internal: retried, then named)."""

    def __init__(self, blockers: tuple[Blocker, ...]) -> None:
        super().__init__("a migration's lock wait timed out")
        self.blockers = blockers
        #: The revision that waited, as the runner names it (set by the runner).
        self.revision: str | None = None


def timeout_statements(settings: Settings, *, local: bool) -> list[str]:
    """The ``SET`` statements of a migration run (``SET LOCAL`` inside one transaction).

    Nothing for a setting of 0: the server's (or the role's) own default stays.
    """
    verb = "SET LOCAL" if local else "SET"
    statements = []
    if settings.migration_lock_timeout_ms:
        statements.append(f"{verb} lock_timeout = {settings.migration_lock_timeout_ms}")
    if settings.migration_statement_timeout_ms:
        statements.append(f"{verb} statement_timeout = {settings.migration_statement_timeout_ms}")
    return statements


def reset_timeouts(conn: Connection, settings: Settings) -> None:
    """Give a session the run borrowed its own timeouts back (a command's session goes on)."""
    if conn.in_transaction():
        conn.rollback()
    for statement in timeout_statements(settings, local=False):
        setting = statement.split()[1]
        conn.execute(text(f"RESET {setting}"))
    conn.execute(text("RESET application_name"))
    conn.commit()


def is_lock_timeout(exc: BaseException) -> bool:
    """True when ``exc``, or an error it was raised from, is PostgreSQL's lock timeout (55P03)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, pg.LockNotAvailable):
            return True
        if isinstance(current, DBAPIError) and isinstance(current.orig, pg.LockNotAvailable):
            return True
        current = current.__cause__ or current.__context__
    return False


class BlockerWatch:
    """Samples, in a thread, which sessions block the migration's backend while it runs.

    After a lock timeout the wait is over and ``pg_blocking_pids`` is empty, so
    the sessions in the way are seen while the revision waits. The first sample
    is taken a quarter of the lock timeout in: a migration that never waits
    never opens the watch's connection.
    """

    def __init__(self, settings: Settings, pid: int) -> None:
        self._settings = settings
        self._pid = pid
        self._interval = max(0.05, min(settings.migration_lock_timeout_ms / 4000, 0.5))
        self._stop = threading.Event()
        self._seen: tuple[Blocker, ...] = ()
        self._thread = threading.Thread(target=self._run, name="migration-blockers", daemon=True)

    @property
    def blockers(self) -> tuple[Blocker, ...]:
        """The sessions last seen blocking the migration (empty when none was)."""
        return self._seen

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn: psycopg.Connection[tuple[Any, ...]] | None = None
        try:
            # Event.wait is the watch's clock: it returns early when the run ends.
            while not self._stop.wait(self._interval):
                if conn is None:
                    conn = psycopg.connect(
                        self._settings.plain_url,
                        **connect_kwargs(self._settings, statement_timeout=False),
                        autocommit=True,
                        application_name=application_name(self._settings, "migration watch"),
                    )
                rows = conn.execute(_BLOCKERS, (self._pid,)).fetchall()
                if rows:
                    self._seen = tuple(
                        Blocker(int(pid), str(name), str(state), _seconds(age))
                        for pid, name, state, age in rows
                    )
        except psycopg.Error as exc:  # naming the blocker is a courtesy: never fail the run
            _log.debug("cannot watch the migration's lock waits: %s", exc)
        finally:
            if conn is not None:
                conn.close()


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


@contextmanager
def lock_safe(conn: Connection, settings: Settings, *, local: bool) -> Iterator[None]:
    """Run a migration on ``conn`` with its timeouts set and who blocks it watched.

    ``local``: ``conn`` is inside the run's one transaction (behind a transaction
    pooler), so the timeouts are ``SET LOCAL``; otherwise they are set for the
    session and committed, before Alembic opens a transaction per revision. A
    lock timeout inside comes out as :class:`LockWaitTimedOut` naming the
    sessions seen in the way; the caller rolls back and retries.
    """
    pid: int = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    for statement in timeout_statements(settings, local=local):
        conn.execute(text(statement))
    # The migration is told from the bot (and from a waiting shard) in pg_stat_activity.
    conn.execute(
        text("SELECT set_config('application_name', :name, :local)"),
        {"name": application_name(settings, "migration"), "local": local},
    )
    if not local:
        conn.commit()
    watch = BlockerWatch(settings, pid) if settings.migration_lock_timeout_ms else None
    if watch is not None:
        watch.start()
    try:
        yield
    except Exception as exc:
        if is_lock_timeout(exc):
            raise LockWaitTimedOut(watch.blockers if watch else ()) from exc
        raise
    finally:
        if watch is not None:
            watch.stop()


def with_lock_retries(
    settings: Settings,
    run: Callable[[], T],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``run()``; again after a pause when it raised :class:`LockWaitTimedOut`, boundedly.

    ``run`` is one whole locked migration run (it resumes at the revision that
    timed out: those before it are committed). When every attempt timed out,
    :class:`LockTimeoutError` names the revision and the session in the way.
    """
    attempts = settings.migration_lock_retries
    pause = _FIRST_PAUSE
    began = time.monotonic()
    last: LockWaitTimedOut | None = None
    for attempt in range(1, attempts + 1):
        try:
            return run()
        except LockWaitTimedOut as exc:
            last = exc
            if attempt == attempts:
                break
            _log.warning(
                "%s waited %d ms for a lock held by %s; trying again in %.1f s (attempt %d of %d)",
                exc.revision or "a revision",
                settings.migration_lock_timeout_ms,
                _who(exc.blockers),
                pause,
                attempt,
                attempts,
            )
        sleep(pause)  # back-off between attempts: the blocking transaction may end
        pause = min(pause * 2, _MAX_PAUSE)
    assert last is not None
    raise LockTimeoutError(
        f"{last.revision or 'a revision'} could not take its lock within "
        f"{settings.migration_lock_timeout_ms} ms in {attempts} attempts over "
        f"{time.monotonic() - began:.0f} s, blocked by {_who(last.blockers)}; the bot's calls "
        "were not held up: end or wait out that transaction, then deploy again"
    ) from last


def _who(blockers: tuple[Blocker, ...]) -> str:
    if not blockers:
        return "a session that had let go by the time it was looked for"
    return ", ".join(blocker.describe() for blocker in blockers)
