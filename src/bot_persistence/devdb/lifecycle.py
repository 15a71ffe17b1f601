"""The development database workflows, composed from provision, migrations, seeding, health.

``up`` is what ``nox -s db`` runs: a server from the chosen backend, the
database migrated to head, seeded when empty, then probed. ``reset`` drops and
rebuilds the database. The command line only formats what these return.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from psycopg import sql
from sqlalchemy import text

from bot_persistence.connection import admin_url, connected_engine
from bot_persistence.devdb import branch_databases
from bot_persistence.devdb.branches import BranchTarget
from bot_persistence.devdb.guards import guard_seeding
from bot_persistence.devdb.health import HealthReport, probe
from bot_persistence.errors import BotPersistenceError, GuardRefusedError
from bot_persistence.migrations.runner import MigrationResult, upgrade
from bot_persistence.provision import Backend, ServerReady, databases, select_backend
from bot_persistence.provision.base import ensure_database
from bot_persistence.settings import Settings

if TYPE_CHECKING:
    from bot_persistence.devdb.seeding import SeedReport

__all__ = ["UpReport", "reset", "reset_branch", "table_counts", "up"]

Progress = Callable[[str], None]
#: Wraps a step that may take more than a second, so the caller can show it live.
Step = Callable[[str], AbstractContextManager[object]]

#: Tables whose row counts ``status`` shows, in a reading order.
#: Names, not the ORM models: ``status`` and a warm ``up`` do not load the ORM
#: (a unit test holds this list to the models).
COUNTED = (
    "users",
    "guilds",
    "guild_settings",
    "user_preferences",
    "playlists",
    "tracks",
    "playlist_tracks",
)


def _quiet(_: str) -> None:
    return None


def _unseen(_: str) -> AbstractContextManager[object]:
    return contextlib.nullcontext()


@dataclasses.dataclass(frozen=True)
class UpReport:
    """What ``up`` did, step by step, and how long it took."""

    backend: str
    reason: str
    server: ServerReady
    migration: MigrationResult
    seeds: SeedReport | None
    health: HealthReport
    elapsed: float
    url: str


def _database_is_empty(settings: Settings) -> bool:
    with connected_engine(settings) as engine, engine.connect() as conn:
        return not conn.execute(text("SELECT EXISTS (SELECT FROM users)")).scalar_one()


def up(
    settings: Settings,
    *,
    backend: str | None = None,
    seed: bool | None = None,
    progress: Progress = _quiet,
    step: Step = _unseen,
    branch: BranchTarget | None = None,
    force: bool = False,
) -> UpReport:
    """Bring the dev database to a usable state; idempotent and quick when it is.

    ``seed=None`` seeds an empty database only, so a contributor's own rows are
    never overwritten by a routine ``up``; ``bot-db seed`` re-applies on purpose.
    ``progress`` gets each finished step's line; ``step`` wraps each slow one.
    With ``branch`` (``settings`` then name its database) the server is started
    with the configured settings and the branch's database is found, or copied
    from its parent's, before it is migrated to this checkout's head.
    A production database is refused before anything starts (``bot-db deploy``
    is its path); a non-local one too, unless ``seed=False`` or ``force``.
    """
    if settings.environment == "production":
        raise GuardRefusedError(
            f"refusing `bot-db up` on {settings.database!r}: BOT_DB_ENVIRONMENT=production, "
            "and up loads sample data; migrate it with `bot-db deploy`"
        )
    if seed is not False:
        guard_seeding(settings, force=force)
    started = time.perf_counter()
    chosen, reason = select_backend(branch.base if branch else settings, backend)
    progress(f"backend   {chosen.name}: {reason}")
    with step(f"server    starting ({chosen.name})"):
        server = chosen.up()
    state = "created and started" if server.created else "started" if server.started else "running"
    progress(f"server    {state} ({time.perf_counter() - started:.2f}s)")
    try:
        return _after_server(
            settings, chosen, reason, server, seed, progress, started,
            branch=branch, force=force, step=step,
        )  # fmt: skip
    except BotPersistenceError as exc:
        if server.started:
            # The line the user reads must not leave them guessing about a process.
            exc.args = (
                f"{exc}; the server this `up` started is still running (`bot-db down` stops it)",
            )
        raise


def _after_server(
    settings: Settings,
    chosen: Backend,
    reason: str,
    server: ServerReady,
    seed: bool | None,
    progress: Progress,
    started: float,
    *,
    branch: BranchTarget | None,
    force: bool,
    step: Step,
) -> UpReport:
    """The branch's database, migrate, seed when asked or empty, probe: ``up`` after the server."""
    if branch is not None:
        with step(f"branch    {branch.label}"):
            ensured = branch_databases.ensure(branch)
        progress(ensured.describe(branch.label))
    with step("migrate   running migrations"):
        migration = upgrade(settings)
    progress(
        f"migrate   {migration.before or 'base'} -> {migration.after}"
        if migration.changed
        else f"migrate   at head {migration.after}"
    )
    should_seed = seed if seed is not None else _database_is_empty(settings)
    with step("seed      applying seeds/"):
        seeds = _seed(settings, force=force) if should_seed else None
    progress(f"seed      {seeds.summary()}" if seeds else "seed      kept existing rows")
    with step("check     probing"):
        return _probed(settings, chosen, reason, server, migration, seeds, started)


def _seed(settings: Settings, *, force: bool = False) -> SeedReport:
    """Apply the seeds; the ORM and the seed schemas load only when there is seeding to do."""
    from bot_persistence.devdb.seeding import apply_seeds

    return apply_seeds(settings, force=force)


def _probed(
    settings: Settings,
    backend: Backend,
    reason: str,
    server: ServerReady,
    migration: MigrationResult,
    seeds: SeedReport | None,
    started: float,
) -> UpReport:
    """Probe the result of ``up`` or ``reset``: raise what is wrong, else report it."""
    health = probe(settings)
    if health.error is not None:
        raise health.error
    return UpReport(
        backend=backend.name,
        reason=reason,
        server=server,
        migration=migration,
        seeds=seeds,
        health=health,
        elapsed=time.perf_counter() - started,
        url=settings.masked_url,
    )


def drop_database(settings: Settings) -> None:
    """Drop the configured database, ending its sessions first (PostgreSQL 13+)."""
    with connected_engine(settings, url=admin_url(settings)) as engine:
        autocommit = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        with autocommit as conn:
            databases.drop_database(conn, settings.database)


def reset(
    settings: Settings,
    backend: Backend | None = None,
    *,
    force: bool = False,
    step: Step = _unseen,
) -> UpReport:
    """Drop the database and build it again: created, migrated to head, seeded.

    The caller has already guarded and asked; this does the destroying. The
    seeding guard runs first, so a reset that could not seed drops nothing.
    """
    guard_seeding(settings, force=force)
    started = time.perf_counter()
    chosen, reason = (backend, "reset") if backend else select_backend(settings)
    with step(f"server    starting ({chosen.name})"):
        server = chosen.up()
    with step(f"reset     rebuilding {settings.database!r}"):
        drop_database(settings)
        ensure_database(settings)
        migration = upgrade(settings)
        seeds = _seed(settings, force=force)
        return _probed(settings, chosen, reason, server, migration, seeds, started)


def reset_branch(
    branch: BranchTarget, backend: str | None = None, *, step: Step = _unseen
) -> tuple[branch_databases.Ensured, UpReport]:
    """Drop this branch's database and copy it from its parent's again, then migrate it
    to head (seeding it only when the copy is empty). The caller has guarded and asked."""
    started = time.perf_counter()
    chosen, reason = select_backend(branch.base, backend)
    with step(f"server    starting ({chosen.name})"):
        server = chosen.up()
    branch_databases.drop(branch, [branch.database])
    ensured = branch_databases.ensure(branch)
    migration = upgrade(branch.settings)
    seeds = _seed(branch.settings) if _database_is_empty(branch.settings) else None
    report = _probed(branch.settings, chosen, reason, server, migration, seeds, started)
    return ensured, report


def table_counts(settings: Settings) -> dict[str, int]:
    """Row counts of the bot's tables, for ``status``."""
    with connected_engine(settings) as engine, engine.connect() as conn:
        return {
            table: conn.exec_driver_sql(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)).as_string()
            ).scalar_one()
            for table in COUNTED
        }
