"""``bot-db rehearse``: apply pending revisions to a copy at scale while the bot's load runs.

A revision proven correct on an empty database may still stall a real bot:
a table rewrite under ACCESS EXCLUSIVE, an index built without CONCURRENTLY.
The rehearsal measures it before it ships:

1. a throw-away database on the same server (``CREATE DATABASE``), always
   dropped afterwards, on an error, Ctrl-C or SIGTERM too;
2. migrated to the start revision (the dev database's, or ``--from``), then
   filled with ``bot-db seed --scale N`` data (:mod:`.scale_seed`);
3. the bot's load running (:mod:`.rehearsal_load`), a second of it measured
   first as the baseline;
4. each pending revision applied on its own through the deploy's code path,
   :func:`bot_persistence.migrations.runner.upgrade` (the migration lock and
   whatever lock policy it applies), while :mod:`.rehearsal_watch` samples the
   locks it takes and how long any bot session waits on it;
5. per revision: wall time, locks, the longest wait of a bot call on the
   migration, the longest call and the p99 of calls during it, the errors the
   bot saw that it had not seen before any revision ran (this checkout's code
   is ahead of an older start revision's schema: those errors are reported
   once, as the baseline's), and the tables rewritten (a changed file node)
   with their rows.

A revision fails the rehearsal when a bot call waited on it longer than the
budget, when the bot saw errors while it ran, or when it failed to apply.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from pydantic import SecretStr

from bot_persistence.devdb.rehearsal_load import BotLoad, Call
from bot_persistence.devdb.rehearsal_watch import LockWatch, relations, rewritten
from bot_persistence.devdb.scale_seed import load_scale
from bot_persistence.errors import BotPersistenceError
from bot_persistence.migrations import runner
from bot_persistence.migrations.deploy import Step, steps_between
from bot_persistence.provision.databases import create_database, drop_database
from bot_persistence.settings import Settings

__all__ = [
    "DEFAULT_BUDGET_MS",
    "RehearsalReport",
    "RevisionReport",
    "Step",
    "pending_steps",
    "rehearse",
    "throwaway_database",
]

#: A bot call may wait this long on a migration before the rehearsal fails it.
DEFAULT_BUDGET_MS = 1000.0
#: Seconds of load measured before the first revision, and after the last.
SETTLE = 1.0


@dataclasses.dataclass(frozen=True)
class RevisionReport:
    """What applying one revision did to the bot."""

    revision: str
    message: str
    started: float
    ended: float
    locks: tuple[tuple[str, str], ...]
    blocked_ms: float
    blocked_query: str | None
    calls: int
    longest_ms: float
    longest_call: str | None
    p99_ms: float
    errors: tuple[str, ...]
    rewritten: dict[str, int]
    failure: str | None = None

    @property
    def seconds(self) -> float:
        """Wall time of the revision."""
        return self.ended - self.started

    def over(self, budget_ms: float) -> bool:
        """True when this revision failed the rehearsal."""
        return self.failure is not None or self.blocked_ms > budget_ms or bool(self.errors)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "revision": self.revision,
            "message": self.message,
            "started_s": round(self.started, 3),
            "seconds": round(self.seconds, 3),
            "locks": [{"mode": mode, "relation": rel} for mode, rel in self.locks],
            "blocked_ms": round(self.blocked_ms, 1),
            "blocked_query": self.blocked_query,
            "calls": self.calls,
            "longest_ms": round(self.longest_ms, 1),
            "longest_call": self.longest_call,
            "p99_ms": round(self.p99_ms, 1),
            "errors": list(self.errors),
            "rewritten": self.rewritten,
            "failure": self.failure,
        }


@dataclasses.dataclass
class RehearsalReport:
    """The whole rehearsal: where it started, the data, the baseline, each revision, the calls."""

    start: str | None
    scale: int
    budget_ms: float
    database: str
    rows: dict[str, int] = dataclasses.field(default_factory=dict)
    seed_seconds: float = 0.0
    baseline_p99_ms: float = 0.0
    #: Errors the bot's calls got before any revision ran: the code is ahead of the
    #: start revision's schema. Not counted against a revision that leaves them.
    baseline_errors: tuple[str, ...] = ()
    revisions: list[RevisionReport] = dataclasses.field(default_factory=list)
    calls: list[Call] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no revision blocked the bot past the budget, errored it, or failed."""
        return not any(report.over(self.budget_ms) for report in self.revisions)

    @property
    def worst(self) -> RevisionReport | None:
        """The first revision that failed the rehearsal, else None."""
        return next((r for r in self.revisions if r.over(self.budget_ms)), None)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (the calls themselves are left out: the HTML report draws them)."""
        worst = self.worst
        return {
            "ok": self.ok,
            "start": self.start,
            "scale": self.scale,
            "budget_ms": self.budget_ms,
            "rows": self.rows,
            "seed_seconds": round(self.seed_seconds, 3),
            "baseline_p99_ms": round(self.baseline_p99_ms, 1),
            "baseline_errors": list(self.baseline_errors),
            "calls": len(self.calls),
            "elapsed": round(self.elapsed, 3),
            "revisions": [report.as_dict() for report in self.revisions],
            "failed_revision": worst.revision if worst else None,
        }


def pending_steps(settings: Settings, start: str | None, *, ini: Path | None = None) -> list[Step]:
    """The revisions from ``start`` (exclusive) to head, oldest first."""
    script = runner.script_directory(settings, ini=ini)
    heads = script.get_heads()
    if not heads:
        return []
    return list(steps_between(script, start, heads[0]))


def _conninfo(settings: Settings) -> str:
    url = settings.url.set(drivername="postgresql")
    return str(url.render_as_string(hide_password=False))


def _with_database(server: Settings, name: str) -> Settings:
    """``server``'s settings naming database ``name``, keeping every other URL part."""
    url = server.url.set(database=name).render_as_string(hide_password=False)
    return server.model_copy(update={"database_url": SecretStr(url)})


@contextlib.contextmanager
def throwaway_database(server: Settings, admin: psycopg.Connection[Any]) -> Iterator[Settings]:
    """A new database on ``server``'s server, dropped on the way out whatever happened.

    ``admin`` is an autocommit connection to the server's maintenance database.
    """
    # Named after the database it rehearses for: whose it is shows in pg_database.
    name = f"{server.database[:40]}_rehearsal_{uuid.uuid4().hex[:8]}"
    try:
        # Inside the try: an interrupt the moment CREATE returns still drops it.
        create_database(admin, name)
        yield _with_database(server, name)
    finally:
        drop_database(admin, name)


def _p99(values: Sequence[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def _during(calls: Sequence[Call], start: float, end: float) -> list[Call]:
    """Calls that were running at some moment between ``start`` and ``end``."""
    return [c for c in calls if c.started <= end and c.started + c.ms / 1000 >= start]


def _ticker(
    load: BotLoad, since: float, clock: Callable[[], float], say: Callable[[str], None]
) -> tuple[threading.Event, threading.Thread]:
    """A thread saying, twice a second, how the bot's calls fare since ``since``."""
    done = threading.Event()

    def run() -> None:
        while not done.wait(0.5):
            now = clock()
            recent = [c for c in list(load.calls) if c.started >= since]
            longest = max((c.ms for c in recent), default=0.0)
            say(f"{len(recent)} bot calls, longest {longest:.0f} ms, {now - since:.1f}s")

    thread = threading.Thread(target=run, name="bot-db-rehearsal-ticker", daemon=True)
    thread.start()
    return done, thread


def rehearse(
    server: Settings,
    admin: psycopg.Connection[Any],
    steps: Sequence[Step],
    *,
    start: str | None,
    scale: int = 1,
    seed: int = 0,
    budget_ms: float = DEFAULT_BUDGET_MS,
    ini: Path | None = None,
    concurrency: int = 8,
    settle: float = SETTLE,
    phase: Callable[[str], contextlib.AbstractContextManager[object]] | None = None,
    say: Callable[[str], None] | None = None,
    on_revision: Callable[[RevisionReport], None] | None = None,
    on_ready: Callable[[RehearsalReport], None] | None = None,
) -> RehearsalReport:
    """Rehearse ``steps`` on a throw-away database of ``server``; see the module's docstring.

    ``server`` names a user that may create databases, and ``admin`` is its
    autocommit connection to the maintenance database. ``phase`` wraps each
    phase (a progress line); ``say`` gets live detail; ``on_revision`` each
    revision's report as soon as it is known; ``on_ready`` the report once the
    data is in and the baseline measured.
    """
    origin = time.perf_counter()

    def clock() -> float:
        return time.perf_counter() - origin

    def step(label: str) -> contextlib.AbstractContextManager[object]:
        return phase(label) if phase is not None else contextlib.nullcontext()

    with throwaway_database(server, admin) as settings:
        report = RehearsalReport(start, scale, budget_ms, settings.database)
        if start is not None:
            with step(f"migrate   the rehearsal database to {start}"):
                runner.upgrade(settings, start, ini=ini)
        conninfo = _conninfo(settings)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            with step(f"data      generating scale {scale}"):
                seeded = load_scale(conn, scale, seed)
            report.rows, report.seed_seconds = seeded.counts, seeded.elapsed
            load = BotLoad(settings, scale=scale, clock=clock, concurrency=concurrency, seed=seed)
            with step(f"load      starting {concurrency} coroutines"):
                load.start()
            try:
                baseline_from = clock()
                with step("baseline  measuring the bot's calls"):
                    time.sleep(settle)  # wait-ok: the length of the measurement, not a sync
                baseline = [c for c in load.calls if c.started >= baseline_from]
                report.baseline_p99_ms = _p99([c.ms for c in baseline if not c.error])
                report.baseline_errors = tuple(sorted({c.error for c in baseline if c.error}))
                if on_ready is not None:
                    on_ready(report)
                for pending in steps:
                    revision = _apply(
                        pending, settings, conn, conninfo, load, clock, ini, step, say,
                        known=set(report.baseline_errors),
                    )  # fmt: skip
                    report.revisions.append(revision)
                    if on_revision is not None:
                        on_revision(revision)
                    if revision.failure is not None:
                        break
                time.sleep(settle / 2)  # wait-ok: the bot's calls after the last revision
            finally:
                load.stop()
        report.calls = list(load.calls)
    report.elapsed = clock()
    return report


def _apply(
    pending: Step,
    settings: Settings,
    conn: psycopg.Connection[Any],
    conninfo: str,
    load: BotLoad,
    clock: Callable[[], float],
    ini: Path | None,
    step: Callable[[str], contextlib.AbstractContextManager[object]],
    say: Callable[[str], None] | None,
    *,
    known: set[str],
) -> RevisionReport:
    """Apply one revision through the deploy's path, watched; its report.

    Errors in ``known`` (seen before any revision ran) are not this revision's.
    """
    before = relations(conn)
    watch = LockWatch(conninfo)
    watch.start()
    started = clock()
    failure = None
    ticker = _ticker(load, started, clock, say) if say is not None else None
    try:
        with step(f"revision  {pending.revision}  {pending.message}"):
            runner.upgrade(settings, pending.revision, ini=ini)
    except BotPersistenceError as exc:
        failure = str(exc)
    finally:
        ended = clock()
        watch.stop()
        if ticker is not None:
            ticker[0].set()
            ticker[1].join()
    during = _during(list(load.calls), started, ended)
    longest = max(during, key=lambda c: c.ms, default=None)
    return RevisionReport(
        revision=pending.revision,
        message=pending.message,
        started=started,
        ended=ended,
        locks=tuple(sorted(watch.locks, key=lambda lock: (lock[1], lock[0]))),
        blocked_ms=watch.blocked.ms if watch.blocked else 0.0,
        blocked_query=watch.blocked.query if watch.blocked else None,
        calls=len(during),
        longest_ms=longest.ms if longest else 0.0,
        longest_call=longest.kind if longest else None,
        p99_ms=_p99([c.ms for c in during]),
        errors=tuple(sorted({c.error for c in during if c.error and c.error not in known})),
        rewritten=rewritten(before, relations(conn)),
        failure=failure,
    )
