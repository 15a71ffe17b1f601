"""The development database workflows, composed from provision, migrations, seeding, health.

``up`` is what ``nox -s db`` runs: a server from the chosen backend, the
database there (created, or copied for a new branch), migrated to head, seeded
when empty, then probed. ``reset`` drops and rebuilds the database. Every step
runs on the command's :class:`~bot_persistence.devdb.target.Target`, so a warm
``up`` asks all its questions over one connection. The command line only
formats what these return.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from psycopg import sql

from bot_persistence.devdb import branch_databases
from bot_persistence.devdb.guards import guard_seeding
from bot_persistence.devdb.health import HealthReport, probe
from bot_persistence.devdb.target import Target
from bot_persistence.errors import (
    AuthenticationFailedError,
    BotPersistenceError,
    DatabaseMissingError,
    GuardRefusedError,
)
from bot_persistence.migrations.runner import MigrationResult, already_at_head, upgrade
from bot_persistence.provision import Backend, ServerReady, databases, select_backend
from bot_persistence.provision.base import create_missing

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


def _database_is_empty(target: Target) -> bool:
    row = target.connection().execute("SELECT EXISTS (SELECT FROM users)").fetchone()
    return not (row and row[0])


def _migrate(target: Target, warn: Progress = _quiet) -> MigrationResult:
    """Migrate the target database to head, on the command's own session.

    At head already (a warm ``up``), that is found with one query and the
    revision files read as text: SQLAlchemy and Alembic load only to migrate.
    A revision about to be applied from a file git does not track is named
    through ``warn`` first: such a file follows ``git switch`` to every branch.
    """
    done = already_at_head(target.settings, target.connection())
    if done is not None:
        return done
    for line in _untracked_pending(target):
        warn(line)
    with target.sqlalchemy() as conn:
        return upgrade(target.settings, connection=conn)


def _untracked_pending(target: Target) -> list[str]:
    """One line per pending revision whose file git does not track (none outside git)."""
    from pathlib import Path

    from bot_persistence.devdb import git
    from bot_persistence.migrations.runner import script_directory
    from bot_persistence.project import project_root, versions_dir
    from bot_persistence.schema_version import database_revision

    with contextlib.suppress(BotPersistenceError):
        root = target.branch.root if target.branch is not None else project_root()
        untracked = {path.resolve() for path in git.untracked(root, versions_dir(root))}
        if not untracked:
            return []
        current = database_revision(target.connection())
        pending = script_directory(target.settings).iterate_revisions("heads", current)
        return [
            f"{Path(script.path).name} is not tracked by git: applying revision "
            f"{script.revision} to {target.database!r} (commit it on its branch, or "
            "`git stash -u` it before switching)"
            for script in pending
            if script.path is not None and Path(script.path).resolve() in untracked
        ]
    return []


def up(
    target: Target,
    *,
    backend: str | None = None,
    seed: bool | None = None,
    progress: Progress = _quiet,
    step: Step = _unseen,
    force: bool = False,
    warn: Progress = _quiet,
) -> UpReport:
    """Bring the dev database to a usable state; idempotent and quick when it is.

    ``seed=None`` seeds an empty database only, so a contributor's own rows are
    never overwritten by a routine ``up``; ``bot-db seed`` re-applies on purpose.
    ``progress`` gets each finished step's line; ``step`` wraps each slow one.
    With a branch database (``target.branch``) the server is started with the
    configured settings and the branch's database is found, or copied from its
    parent's, before it is migrated to this checkout's head.
    A production database is refused before anything starts (``bot-db deploy``
    is its path); a non-local one too, unless ``seed=False`` or ``force``.
    """
    settings = target.settings
    if settings.environment == "production":
        raise GuardRefusedError(
            f"refusing `bot-db up` on {settings.database!r}: BOT_DB_ENVIRONMENT=production, "
            "and up loads sample data; migrate it with `bot-db deploy`"
        )
    if seed is not False:
        guard_seeding(settings, force=force)
    started = time.perf_counter()
    chosen, reason = select_backend(target.server, backend)
    progress(f"backend   {chosen.name}: {reason}")
    with step(f"server    starting ({chosen.name})"):
        server = chosen.up()
    state = "created and started" if server.created else "started" if server.started else "running"
    progress(f"server    {state} ({time.perf_counter() - started:.2f}s)")
    try:
        return _after_server(
            target, chosen, reason, server, seed, progress, started, force=force, step=step,
            warn=warn,
        )  # fmt: skip
    except BotPersistenceError as exc:
        if server.started:
            # The line the user reads must not leave them guessing about a process.
            exc.args = (
                f"{exc}; the server this `up` started is still running (`bot-db down` stops it)",
            )
        raise


def _database(target: Target, chosen: Backend, progress: Progress, step: Step) -> None:
    """Make sure the target database exists: found by connecting to it (the connection the
    rest of the command uses), created or copied only when it is missing."""
    try:
        if target.branch is not None:
            with step(f"branch    {target.branch.label}"):
                ensured = branch_databases.ensure(target)
            progress(ensured.describe(target.branch.label))
            return
        try:
            target.connection(wait=True)
        except DatabaseMissingError:
            if not chosen.owns_server:
                raise
            create_missing(target.admin(), target.settings)
    except AuthenticationFailedError as exc:
        raise (chosen.credentials_refused() or exc) from None


def _after_server(
    target: Target,
    chosen: Backend,
    reason: str,
    server: ServerReady,
    seed: bool | None,
    progress: Progress,
    started: float,
    *,
    force: bool,
    step: Step,
    warn: Progress = _quiet,
) -> UpReport:
    """The database, migrate, seed when asked or empty, probe: ``up`` after the server."""
    _database(target, chosen, progress, step)
    with step("migrate   running migrations"):
        migration = _migrate(target, warn)
    progress(
        f"migrate   {migration.before or 'base'} -> {migration.after}"
        if migration.changed
        else f"migrate   at head {migration.after}"
    )
    should_seed = seed if seed is not None else _database_is_empty(target)
    with step("seed      applying seeds/"):
        seeds = _seed(target, force=force) if should_seed else None
    progress(f"seed      {seeds.summary()}" if seeds else "seed      kept existing rows")
    with step("check     probing"):
        return _probed(target, chosen, reason, server, migration, seeds, started)


def _seed(target: Target, *, force: bool = False) -> SeedReport:
    """Apply the seeds; the ORM and the seed schemas load only when there is seeding to do."""
    from bot_persistence.devdb.seeding import apply_seeds

    return apply_seeds(target, force=force)


def _probed(
    target: Target,
    backend: Backend,
    reason: str,
    server: ServerReady,
    migration: MigrationResult,
    seeds: SeedReport | None,
    started: float,
) -> UpReport:
    """Probe the result of ``up`` or ``reset``: raise what is wrong, else report it."""
    health = probe(target)
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
        url=target.settings.masked_url,
    )


def drop_database(target: Target) -> None:
    """Drop the target database, ending its sessions first (PostgreSQL 13+)."""
    target.disconnect()
    databases.drop_database(target.admin(wait=True), target.database)


def reset(
    target: Target,
    backend: Backend | None = None,
    *,
    force: bool = False,
    step: Step = _unseen,
) -> UpReport:
    """Drop the database and build it again: created, migrated to head, seeded.

    The caller has already guarded and asked; this does the destroying. The
    seeding guard runs first, so a reset that could not seed drops nothing.
    """
    guard_seeding(target.settings, force=force)
    started = time.perf_counter()
    chosen, reason = (backend, "reset") if backend else select_backend(target.server)
    with step(f"server    starting ({chosen.name})"):
        server = chosen.up()
    with step(f"reset     rebuilding {target.database!r}"):
        drop_database(target)
        create_missing(target.admin(), target.settings)
        migration = _migrate(target)
        seeds = _seed(target, force=force)
        return _probed(target, chosen, reason, server, migration, seeds, started)


def reset_branch(
    target: Target, backend: str | None = None, *, step: Step = _unseen
) -> tuple[branch_databases.Ensured, UpReport]:
    """Drop this branch's database and copy it from its parent's again, then migrate it
    to head (seeding it only when the copy is empty). The caller has guarded and asked."""
    started = time.perf_counter()
    chosen, reason = select_backend(target.server, backend)
    with step(f"server    starting ({chosen.name})"):
        server = chosen.up()
    branch_databases.drop(target, [target.database])
    ensured = branch_databases.ensure(target)
    migration = _migrate(target)
    seeds = _seed(target) if _database_is_empty(target) else None
    report = _probed(target, chosen, reason, server, migration, seeds, started)
    return ensured, report


def table_counts(target: Target) -> dict[str, int]:
    """Row counts of the bot's tables, for ``status``, on the command's connection."""
    conn = target.connection()
    counts: dict[str, int] = {}
    for table in COUNTED:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        found = row.fetchone()
        counts[table] = int(found[0]) if found else 0
    return counts
