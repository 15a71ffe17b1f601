"""Deploying migrations to a real database: plan first, refuse the unsafe, SQL for review.

``bot-db deploy`` is the production path: migrations only (seeds never), under
the migration lock (:func:`bot_persistence.migrations.runner.upgrade`), after a
plan that names the revisions current -> target. It refuses, before anything is
written, a database this code cannot move safely: one stamped with a revision
the code does not know (the database is ahead: a newer release migrated it), one
stamped with several revisions, or code whose history has several heads.
:func:`upgrade_sql` gives the SQL the plan would run, for a reviewer to read.
"""

from __future__ import annotations

import dataclasses

from alembic.script import ScriptDirectory
from alembic.util import CommandError

from bot_persistence.connection import connected_engine
from bot_persistence.errors import SchemaAheadOfCodeError
from bot_persistence.migrations import status
from bot_persistence.migrations.runner import (
    MigrationResult,
    head_revision,
    script_directory,
    upgrade,
)
from bot_persistence.schema_version import database_revision
from bot_persistence.settings import Settings

__all__ = ["DeployPlan", "Step", "deploy", "plan", "steps_between", "upgrade_sql"]


@dataclasses.dataclass(frozen=True)
class Step:
    """One revision to run (a deploy's, a rehearsal's), with its message's first line."""

    revision: str
    message: str


@dataclasses.dataclass(frozen=True)
class DeployPlan:
    """Where the database is, where the code wants it, and the revisions in between."""

    database: str
    current: str | None
    target: str | None
    steps: tuple[Step, ...]

    @property
    def up_to_date(self) -> bool:
        """True when there is nothing to run."""
        return not self.steps

    def summary(self) -> str:
        """``bot: 51d3e20ba02e -> ebaf3bf6b546 (1 revision)``."""
        count = len(self.steps)
        return (
            f"{self.database}: {self.current or 'base'} -> {self.target or 'base'} "
            f"({count} revision{'s' if count != 1 else ''})"
        )


def steps_between(script: ScriptDirectory, current: str | None, target: str) -> tuple[Step, ...]:
    """The revisions from ``current`` (exclusive) to ``target``, oldest first."""
    pending = list(script.iterate_revisions(target, current, implicit_base=True))
    pending.reverse()  # iterate_revisions walks from the target down
    return tuple(
        Step(rev.revision, (rev.doc or "").strip().splitlines()[0] if rev.doc else "")
        for rev in pending
    )


def plan(settings: Settings) -> DeployPlan:
    """Read the database's revision and plan the way to the code's head; refuse the unsafe."""
    target = head_revision(settings)  # several heads in the code: a typed error
    with connected_engine(settings) as engine, engine.connect() as conn:
        current = database_revision(conn)  # several revisions stamped: a typed error
    script = script_directory(settings)
    if current is not None:
        try:
            script.get_revision(current)
        except CommandError:
            raise SchemaAheadOfCodeError(
                f"database {settings.database!r} is at revision {current}, which this code "
                f"does not know (its newest is {target}): the database is ahead of the code; "
                "deploy the release that migrated it (nothing was written)",
                revision=current,
            ) from None
    steps = steps_between(script, current, target) if target is not None else ()
    return DeployPlan(settings.database, current, target, steps)


def upgrade_sql(settings: Settings, planned: DeployPlan) -> str:
    """The SQL the plan runs, as Alembic renders it offline (nothing is sent to the server)."""
    if planned.up_to_date or planned.target is None:
        return ""
    span = f"{planned.current}:{planned.target}" if planned.current else planned.target
    return status.upgrade_sql(settings, span)


def deploy(settings: Settings, planned: DeployPlan) -> MigrationResult:
    """Run the plan under the migration lock (another deployer waits, then finds it done)."""
    if planned.target is None:
        return MigrationResult(before=planned.current, after=planned.current)
    return upgrade(settings, planned.target)
