"""Alembic driven from Python: upgrade under an advisory lock, downgrade, autogenerate.

Many bot processes (shards) may start at once and each may migrate. Upgrades
take a PostgreSQL advisory lock first, so exactly one runs the migrations; the
others wait on the lock, then find the database at head and do nothing.

Connected directly (or through a session pooler) the lock is session-scoped and
each revision runs in its own transaction (see ``alembic/env.py``), so a failure
leaves the database at the revision before the failing one.

Through a transaction pooler (``BOT_DB_POOLER=transaction``) a session lock
means nothing: each transaction may run on another server connection, so the
lock is taken and released on connections that never see the DDL, and two
migrators both run the revisions. There the whole run is one transaction that
starts with ``pg_advisory_xact_lock``: PgBouncer keeps a transaction on one
server connection, so the lock holds until the commit that publishes the
revisions, and cannot leak past it. A failure then undoes the whole run. (A
second, direct ``BOT_DB_MIGRATION_URL`` would also work, but needs a path to the
server that bypasses the pooler, which managed setups often do not give.)

Alembic is imported inside the functions that use it: a warm ``bot-db up``
finds the database at head with :mod:`bot_persistence.schema_version` (one
query, the revision files read with :mod:`ast`) and never loads it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import psycopg

from bot_persistence.connection import connected_engine, first_line, sync_engine
from bot_persistence.errors import BotPersistenceError, ConfigurationError, MigrationFailedError
from bot_persistence.project import alembic_ini, versions_dir
from bot_persistence.schema_version import (
    ahead_of_code,
    database_revision,
    known_revisions,
    single_head,
)
from bot_persistence.settings import Settings

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection

__all__ = [
    "MIGRATION_LOCK_KEY",
    "MigrationResult",
    "alembic_config",
    "already_at_head",
    "current_revision",
    "downgrade",
    "head_revision",
    "new_revision",
    "one_transaction",
    "revision_of",
    "script_directory",
    "upgrade",
]

_log = logging.getLogger(__name__)

#: The advisory lock key every migrating process agrees on ("botmigr" in ASCII).
MIGRATION_LOCK_KEY = 0x626F746D696772
_LOCK = "SELECT {}(%(key)s)"
_KEY = {"key": MIGRATION_LOCK_KEY}


@dataclasses.dataclass(frozen=True)
class MigrationResult:
    """Where the database was before and after a migrate or downgrade."""

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        """True when at least one revision ran."""
        return self.before != self.after


def alembic_config(
    settings: Settings | None,
    *,
    connection: Connection | None = None,
    ini: Path | None = None,
    stdout: io.TextIOBase | None = None,
) -> Config:
    """An Alembic ``Config`` for the project, bound to ``connection`` when given.

    ``settings`` gives the database URL; ``None`` is for a caller that sets
    ``attributes["url"]`` itself (offline SQL rendering has no server).
    """
    from alembic.config import Config

    path = ini or alembic_ini()
    config = Config(str(path), stdout=stdout or io.StringIO())  # type: ignore[arg-type]
    # Beside the ini, wherever that is (a checkout or the installed package's copy),
    # never relative to the directory bot-db runs in.
    config.set_main_option("script_location", str(path.parent / "alembic"))
    config.attributes["skip_logging_config"] = True
    if settings is not None:
        config.attributes["url"] = settings.url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_directory(settings: Settings, *, ini: Path | None = None) -> ScriptDirectory:
    """The revision scripts, loaded once per call."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(settings, ini=ini))


def head_revision(settings: Settings, *, ini: Path | None = None) -> str | None:
    """The single head revision; a clear error when the history has several."""
    heads = script_directory(settings, ini=ini).get_heads()
    if len(heads) > 1:
        raise MigrationFailedError(
            f"the migration history has {len(heads)} heads ({', '.join(sorted(heads))}); "
            "merge them with `alembic merge -m 'merge heads' heads`"
        )
    return heads[0] if heads else None


def revision_of(connection: Connection) -> str | None:
    """The revision recorded in ``connection``'s database, ``None`` when unmigrated."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def current_revision(settings: Settings) -> str | None:
    """The database's revision, ``None`` for an unmigrated database."""
    with connected_engine(settings) as engine, engine.connect() as conn:
        return revision_of(conn)


def one_transaction(settings: Settings) -> bool:
    """True when a migration run must be one transaction: behind a transaction pooler."""
    return settings.pooler == "transaction"


@contextmanager
def _connection(settings: Settings, given: Connection | None) -> Iterator[Connection]:
    """``given`` as it is (its owner closes it), else a connection of our own."""
    if given is not None:
        yield given
        return
    with connected_engine(settings) as engine, engine.connect() as conn:
        yield conn


@contextmanager
def _locked_connection(settings: Settings, given: Connection | None) -> Iterator[Connection]:
    """A connection holding the migration advisory lock for as long as the block runs.

    Behind a transaction pooler the lock is transaction-scoped, taken in the
    transaction the caller then commits or rolls back (which releases it).
    """
    with _connection(settings, given) as conn:
        if one_transaction(settings):
            conn.begin()
            conn.exec_driver_sql(_LOCK.format("pg_advisory_xact_lock"), _KEY)
            try:
                yield conn
            finally:
                if conn.in_transaction():
                    conn.rollback()
            return
        # Session-level lock, committed at once so Alembic sees no open transaction
        # and can run each revision in a transaction of its own.
        _wait_for_session_lock(conn)
        try:
            yield conn
        finally:
            conn.rollback()
            conn.exec_driver_sql(_LOCK.format("pg_advisory_unlock"), _KEY)
            conn.commit()


#: How long one wait for the migration lock lasts before it ends and asks again.
LOCK_WAIT_SLICE = "200ms"


def _wait_for_session_lock(conn: Connection) -> None:
    """Take the session-level migration lock, waiting for it in short slices.

    A statement waiting on a lock holds a snapshot, and a ``CREATE INDEX
    CONCURRENTLY`` in the migrator that holds the lock waits until every
    transaction older than its build has ended: a waiter that never let go
    would be a deadlock, which PostgreSQL ends by cancelling the index build.
    Each slice ends its transaction when ``lock_timeout`` fires, so the build
    only waits for the slice in progress. The timeout is transaction-local:
    the session keeps its own once the lock is taken.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    while True:
        conn.execute(
            text("SELECT set_config('lock_timeout', :slice, true)"), {"slice": LOCK_WAIT_SLICE}
        )
        try:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        except SQLAlchemyError as exc:
            conn.rollback()
            if isinstance(getattr(exc, "orig", None), psycopg.errors.LockNotAvailable):
                continue
            raise
        conn.commit()
        return


def _refuse_unknown(settings: Settings, revision: str | None, ini: Path | None) -> None:
    """Raise the one-line error for a database at a revision these files do not have.

    Alembic would fail with "Can't locate revision" and a traceback; this names
    the revision, where it comes from, and the way out.
    """
    if revision is None:
        return
    versions = versions_dir(ini.parent if ini else None)
    if revision not in known_revisions(versions):
        raise ahead_of_code(
            settings.database,
            revision,
            versions,
            development=settings.environment != "production",
        )


def upgrade(
    settings: Settings,
    target: str = "head",
    *,
    ini: Path | None = None,
    connection: Connection | None = None,
) -> MigrationResult:
    """Migrate to ``target`` under the advisory lock; nothing to do when already there.

    On ``connection`` when given (``bot-db`` passes the session its command
    already holds, with no transaction open), else on a connection of its own.
    """
    if target == "head" and ini is None:
        at_head = already_at_head(settings, connection)
        if at_head is not None:
            return at_head

    def failed(config: Config, before: str | None, at: str | None, exc: Exception) -> str:
        if one_transaction(settings):
            return (
                f"migrating {before or 'base'} -> {target} failed: {first_line(exc)}; "
                "nothing was applied (behind a transaction pooler the run is one "
                "transaction): fix the migration and run `bot-db migrate` again"
            )
        failing = _next_revision(config, target, at)
        return (
            f"revision {failing or '(after ' + (at or 'base') + ')'} failed: "
            f"{first_line(exc)}; the database stays at {at or 'base'}: fix the "
            "migration and run `bot-db migrate` again"
        )

    return _run_locked(settings, "upgrade", target, ini=ini, connection=connection, failed=failed)


def _run_locked(
    settings: Settings,
    action: Literal["upgrade", "downgrade"],
    target: str,
    *,
    ini: Path | None,
    connection: Connection | None,
    failed: Callable[[Config, str | None, str | None, Exception], str],
) -> MigrationResult:
    """Lock, refuse an unknown revision, run Alembic's ``action``, translate its failure.

    ``failed(config, before, at, exc)`` words the failure: ``at`` is where the
    database was left. A revision blocked on a table lock longer than the
    migration's lock timeout is rolled back, so the bot's queued calls go
    through, and the run is tried again (:mod:`lock_retries`); it resumes at
    that revision, the ones before it being committed.
    """
    # Loaded with SQLAlchemy, only to migrate: a warm `up` that finds the database
    # at head (already_at_head) imports neither.
    from bot_persistence.migrations.lock_retries import with_lock_retries

    def once() -> MigrationResult:
        """One locked run; a lock wait too long is LockWaitTimedOut."""
        from alembic import command
        from alembic.util import CommandError

        from bot_persistence.migrations.grants import migration_privilege_error
        from bot_persistence.migrations.lock_retries import LockWaitTimedOut, lock_safe

        single = one_transaction(settings)
        with _locked_connection(settings, connection) as conn:
            before = revision_of(conn)
            _refuse_unknown(settings, before, ini)
            if not single:
                # End the read's implicit transaction: Alembic must find none open, or it
                # runs every revision inside ours and a failure undoes all of them.
                conn.rollback()
            config = alembic_config(settings, connection=conn, ini=ini)
            try:
                with lock_safe(conn, settings, local=single):
                    getattr(command, action)(config, target)
            except CommandError as exc:
                verb = "migrate" if action == "upgrade" else "downgrade"
                raise ConfigurationError(f"cannot {verb} to {target!r}: {exc}") from None
            except LockWaitTimedOut as blocked:
                conn.rollback()
                at = revision_of(conn)
                conn.rollback()
                if single:
                    blocked.revision = f"the run {before or 'base'} -> {target}"
                elif action == "upgrade":
                    blocked.revision = (
                        _next_revision(config, target, at) or f"the revision after {at}"
                    )
                else:
                    blocked.revision = f"the downgrade from {at or 'base'}"
                _give_back(conn, settings, borrowed=connection is not None and not single)
                raise
            except Exception as exc:
                conn.rollback()
                at = revision_of(conn)
                conn.rollback()
                _give_back(conn, settings, borrowed=connection is not None and not single)
                refused = migration_privilege_error(exc, settings)
                if refused is not None:
                    raise refused from exc
                raise MigrationFailedError(failed(config, before, at, exc)) from exc
            conn.commit()
            result = MigrationResult(before=before, after=revision_of(conn))
            # The command's own session goes on without the migration's timeouts.
            _give_back(conn, settings, borrowed=connection is not None and not single)
            return result

    return with_lock_retries(settings, once)


def _give_back(conn: Connection, settings: Settings, *, borrowed: bool) -> None:
    """Reset the migration's timeouts on a session the run borrowed (rolled back already)."""
    from bot_persistence.migrations.lock_retries import reset_timeouts

    if borrowed:
        reset_timeouts(conn, settings)


def already_at_head(
    settings: Settings, given: Connection | psycopg.Connection[Any] | None = None
) -> MigrationResult | None:
    """The result of an upgrade with nothing to do, when the database is at head; else None.

    No lock is needed to find that out: a database at head stays there whatever
    another process migrates, since every migrator's target is the same head.
    ``given`` may be a plain psycopg connection: a warm ``bot-db up`` asks on
    its command's own session and loads neither SQLAlchemy nor Alembic.
    """
    head = single_head(versions_dir())
    if head is None:
        return None
    try:
        if given is not None:
            revision = database_revision(given)
            given.rollback()  # leave no transaction open for the locked path
        else:
            engine = sync_engine(settings)
            try:
                with engine.connect() as conn:
                    revision = database_revision(conn)
            finally:
                engine.dispose()
    except Exception as exc:
        if not _from_the_database(exc):
            raise
        return None  # the locked path says what is wrong, in its own words
    return MigrationResult(before=head, after=head) if revision == head else None


def _from_the_database(exc: BaseException) -> bool:
    """Ours, psycopg's or SQLAlchemy's (told by its module, so SQLAlchemy need not load)."""
    return isinstance(exc, BotPersistenceError | psycopg.Error) or type(exc).__module__.startswith(
        "sqlalchemy"
    )


def _next_revision(config: Config, target: str, at: str | None) -> str | None:
    """The revision an upgrade from ``at`` towards ``target`` runs first: the one that failed."""
    from alembic.script import ScriptDirectory

    try:
        script = ScriptDirectory.from_config(config)
        pending = list(script.iterate_revisions(target, at, implicit_base=True))
    except Exception:  # naming the revision is a courtesy; the error says the rest
        return None
    if not pending:
        return None
    first = pending[-1]
    doc = (first.doc or "").strip().splitlines()
    return f"{first.revision} ({doc[0]})" if doc and doc[0] else first.revision


def downgrade(
    settings: Settings,
    target: str,
    *,
    ini: Path | None = None,
    connection: Connection | None = None,
) -> MigrationResult:
    """Downgrade to ``target`` (a revision, ``-1`` or ``base``) under the advisory lock."""

    def failed(config: Config, before: str | None, at: str | None, exc: Exception) -> str:
        return f"downgrade to {target} failed at revision {at or 'base'}: {first_line(exc)}"

    return _run_locked(settings, "downgrade", target, ini=ini, connection=connection, failed=failed)


def new_revision(settings: Settings, message: str, *, autogenerate: bool = True) -> Path:
    """Write a new revision, autogenerated from the models against the migrated database."""
    if not message.strip():
        raise ConfigurationError("a revision needs a message: bot-db revision -m 'add ...'")
    from alembic import command
    from alembic.util import CommandError

    with connected_engine(settings) as engine, engine.connect() as conn:
        _refuse_unknown(settings, revision_of(conn), None)
        conn.rollback()
        config = alembic_config(settings, connection=conn)
        if importlib.util.find_spec("ruff") is None:
            # The post-write hook formats with ruff; without it, write unformatted.
            config.set_section_option("post_write_hooks", "hooks", "")
        try:
            script = command.revision(config, message=message, autogenerate=autogenerate)
        except CommandError as exc:
            text_ = str(exc)
            if "not up to date" in text_:
                raise ConfigurationError(
                    "the database is not at head, so autogenerate would repeat old changes; "
                    "run `bot-db migrate` first"
                ) from None
            raise ConfigurationError(f"cannot write the revision: {text_}") from None
    if script is None or isinstance(script, list):
        raise MigrationFailedError("alembic wrote no single revision file")
    return Path(script.path)
