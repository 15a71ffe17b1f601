"""Walking the revision graph: every revision up, down and up again, schema and data checked.

The roundtrip (:mod:`bot_persistence.migrations.roundtrip`) uses this in three Alembic
runs on one connection: up from base, down from head with the seeds in place,
and up again. Each run hands Alembic exactly the steps wanted, each in its own
transaction as ``bot-db migrate`` runs them, and checks the schema or the rows
inside the step it follows.

A revision declares in its own file what the walk must know about it::

    # irreversible: the downgrade cannot bring back what the upgrade deleted.
    irreversible = "merges duplicate tracks; which rows were merged is not kept"

    # rewrites_data: the upgrade changes existing values on purpose.
    rewrites_data = "normalises guild_settings.locale to lower case"
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from alembic import op as alembic_op
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationStep
from alembic.script import Script, ScriptDirectory
from psycopg import sql
from sqlalchemy import Connection, text

from bot_persistence.connection import first_line
from bot_persistence.errors import MigrationCheckError
from bot_persistence.migrations import schema_compare
from bot_persistence.migrations.schema_compare import SchemaSnapshot

__all__ = [
    "CheckResult",
    "Stairway",
    "StepRunner",
    "irreversible_reason",
    "label",
    "rewrites_data_reason",
    "up_with_data",
]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check's outcome: a line a person reads, and the detail when it failed."""

    check: str
    ok: bool
    summary: str
    detail: tuple[str, ...] = ()


def irreversible_reason(revision: Script) -> str | None:
    """The revision's ``irreversible`` declaration: why its downgrade cannot undo it."""
    return _declared(revision, "irreversible")


def _declared(revision: Script, name: str) -> str | None:
    value: Any = getattr(revision.module, name, None)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise MigrationCheckError(
            f"revision {revision.revision}: `{name}` must be a sentence saying why, "
            f'e.g. {name} = "drops a column whose data is not kept"'
        )
    return value.strip()


def label(revision: Script) -> str:
    """``id (first line of its message)``: how a finding names a revision."""
    doc = (revision.doc or "").strip().splitlines()
    return f"{revision.revision} ({doc[0]})" if doc and doc[0] else revision.revision


def rewrites_data_reason(revision: Script) -> str | None:
    """The revision's ``rewrites_data`` declaration: why its upgrade changes existing values."""
    return _declared(revision, "rewrites_data")


# -- running steps ---------------------------------------------------------------------

#: Something to do inside a step's transaction, right after its upgrade or downgrade ran.
Action = Callable[[], None]


class _Stop(Exception):
    """Raised inside a step to end the run with a finding (the step's transaction rolls back)."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.summary)
        self.result = result


class StepRunner:
    """Runs chosen revision steps through ``env.py`` on one connection, script loaded once.

    Steps go to Alembic as one run (one ``env.py`` pass, one look at the version
    table), each in its own transaction as ``bot-db migrate`` runs them. A step
    may carry an action that runs inside its transaction once its migration
    function returned: the schema it built is visible there, and raising
    :class:`_Stop` ends the run with a finding.
    """

    def __init__(self, script: ScriptDirectory, config: Config, conn: Connection) -> None:
        self.script = script
        self.config = config
        self.conn = conn
        self.current: tuple[Script, bool] | None = None

    def run(self, steps: Sequence[tuple[Script, bool, Action | None]]) -> None:
        """Run ``(revision, upgrade?, action)`` steps in this order, as one Alembic run."""
        if self.conn.in_transaction():
            self.conn.rollback()  # only reads happened since the last run
        planned = [self._step(revision, up, action) for revision, up, action in steps]

        def these_steps(rev: Any, context: MigrationContext) -> list[Any]:
            return planned

        with EnvironmentContext(self.config, self.script, fn=these_steps):
            self.script.run_env()
        if self.conn.in_transaction():
            self.conn.commit()

    def _step(self, revision: Script, up: bool, action: Action | None) -> MigrationStep:
        make = MigrationStep.upgrade_from_script if up else MigrationStep.downgrade_from_script
        step = make(self.script.revision_map, revision)
        original = step.migration_fn

        @functools.wraps(original)
        def run_then_act(*args: Any, **kwargs: Any) -> None:
            self.current = (revision, up)
            # Alembic notes each enum type it creates or drops once per run (a DDL
            # memo); in this run a type may be created again after a downgrade
            # dropped it, as it would be by separate `alembic` commands.
            alembic_op.get_context().impl.memo.clear()
            original(*args, **kwargs)
            if action is not None:
                action()

        step.migration_fn = run_then_act
        return step

    def snapshot(self) -> SchemaSnapshot:
        """The schema now; inside a step it sees that step's uncommitted work."""
        return schema_compare.snapshot(self.conn)

    def failure(self, check: str, exc: BaseException, *, context: str = "") -> CheckResult:
        """A finding naming the step that raised ``exc``."""
        if isinstance(exc, _Stop):
            return exc.result
        what = "a step"
        if self.current is not None:
            revision, up = self.current
            what = f"{'upgrade' if up else 'downgrade'} of {label(revision)}"
        return CheckResult(check, False, f"{what} failed{context}: {first_line(exc)}")


def _floor(order: Sequence[Script]) -> int:
    """The index up to which revisions get their own up, down, up on the empty schema.

    Above it, the downgrades run in one walk down from head with the seeds in
    place and the upgrades again in one walk up. Roots stay below the floor
    (their downgrade drops the tables the seeds live in), and so does every
    revision up to the last irreversible one (the walk down stops there).
    """
    floor = -1
    for index, revision in enumerate(order):
        if not revision._normalized_down_revisions or irreversible_reason(revision) is not None:
            floor = index
    return floor


class Stairway:
    """Every revision up, down and up again; each downgrade restores the schema it started from.

    ``schemas[i]`` is the schema with ``order[:i + 1]`` applied (``schemas[-1]``
    the empty one), taken on the way up; a downgrade of ``order[i]`` must give
    back ``schemas[i - 1]``.
    """

    def __init__(self, runner: StepRunner, order: Sequence[Script]) -> None:
        self.runner = runner
        self.order = order
        self.floor = _floor(order)
        self.schemas: dict[int, SchemaSnapshot] = {}
        self.notes: list[str] = []
        #: Set once the seeds are loaded at head, before the walk down.
        self.seeded = False

    def _keep(self, index: int) -> Action:
        def keep() -> None:
            self.schemas[index] = self.runner.snapshot()

        return keep

    def _restores(self, index: int, *, with_data: bool = False) -> Action:
        revision = self.order[index]

        def compare() -> None:
            difference = schema_compare.diff(
                self.schemas[index - 1], self.runner.snapshot(), labels=("before upgrade", "after")
            )
            if difference:
                seeded = ", with the seeds in place," if with_data and self.seeded else ""
                raise _Stop(
                    CheckResult(
                        "stairway",
                        False,
                        f"downgrade of {label(revision)}{seeded} does not restore the schema "
                        "it started from",
                        (
                            "- only before the upgrade, + left after the downgrade, ~ changed:",
                            *difference,
                            "make downgrade() undo exactly what upgrade() did "
                            "(enum types are not dropped with their table)",
                        ),
                    )
                )

        return compare

    def up_from_base(self) -> CheckResult | None:
        """Walk up from the empty schema; below the floor, each revision goes up, down, up."""
        self.schemas[-1] = self.runner.snapshot()
        self.runner.conn.rollback()
        steps: list[tuple[Script, bool, Action | None]] = []
        for index, revision in enumerate(self.order):
            steps.append((revision, True, self._keep(index)))
            if index > self.floor:
                continue
            reason = irreversible_reason(revision)
            if reason is not None:
                self.notes.append(f"{revision.revision} is irreversible ({reason}): not downgraded")
                continue
            steps += [(revision, False, self._restores(index)), (revision, True, None)]
        try:
            self.runner.run(steps)
        except Exception as exc:
            return self.runner.failure("stairway", exc)
        return None

    def down_to_floor(self) -> CheckResult | None:
        """Walk down from head to the floor, the seeds in place, comparing each schema."""
        steps: list[tuple[Script, bool, Action | None]] = [
            (self.order[index], False, self._restores(index, with_data=True))
            for index in range(len(self.order) - 1, self.floor, -1)
        ]
        try:
            self.runner.run(steps)
        except Exception as exc:
            return self.runner.failure(
                "stairway",
                exc,
                context=" with the seeds in place (fix its downgrade(), or declare it "
                "irreversible with a reason: docs/migrations.md)",
            )
        return None

    def result(self) -> CheckResult:
        return CheckResult(
            "stairway",
            True,
            f"{len(self.order)} revision(s) up, down, up: each downgrade restored the schema",
            tuple(self.notes),
        )


def up_with_data(stairway: Stairway) -> CheckResult:
    """Walk back up from the floor; rows and values present before each upgrade must remain."""
    runner = stairway.runner
    before = _rows(runner.conn)
    runner.conn.rollback()
    checked = 0

    def kept(index: int) -> Action:
        revision = stairway.order[index]

        def compare() -> None:
            nonlocal before, checked
            after = _rows(runner.conn)
            lost = [] if rewrites_data_reason(revision) else _lost(before, after)
            if lost:
                raise _Stop(
                    CheckResult(
                        "seeds",
                        False,
                        f"upgrade of {label(revision)} loses or changes existing data",
                        (
                            *lost,
                            "keep existing rows and values, or declare rewrites_data with a reason",
                        ),
                    )
                )
            before = after
            checked += 1

        return compare

    steps: list[tuple[Script, bool, Action | None]] = [
        (stairway.order[index], True, kept(index))
        for index in range(stairway.floor + 1, len(stairway.order))
    ]
    try:
        runner.run(steps)
    except Exception as exc:
        return runner.failure(
            "seeds",
            exc,
            context=" with the seeds in place (an upgrade must work on a database that holds rows)",
        )
    final = schema_compare.diff(stairway.schemas[len(stairway.order) - 1], runner.snapshot())
    runner.conn.rollback()
    if final:
        return CheckResult(
            "stairway",
            False,
            "upgrading again after the downgrades builds a different schema",
            ("- first time up, + second time up, ~ changed:", *final),
        )
    return CheckResult("seeds", True, f"kept through {checked} upgrade(s) with data in place")


# -- existing data ---------------------------------------------------------------------

Rows = dict[str, list[dict[str, Any]]]

_TABLES_SQL = text(
    """
    SELECT n.nspname, c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p') AND c.relname <> 'alembic_version'
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\\_%'
    ORDER BY 1, 2
    """
)


def _rows(conn: Connection) -> Rows:
    """Every row of every table as JSON objects, read in one query (in the caller's transaction)."""
    tables = [(str(schema), str(name)) for schema, name in conn.execute(_TABLES_SQL)]
    if not tables:
        return {}
    union = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, COALESCE(jsonb_agg(to_jsonb(t)), '[]'::jsonb) FROM {} t").format(
            sql.Literal(f"{schema}.{name}"), sql.Identifier(schema, name)
        )
        for schema, name in tables
    )
    return {str(name): list(rows) for name, rows in conn.exec_driver_sql(union.as_string())}


def _lost(before: Rows, after: Rows) -> list[str]:
    """Rows or values present before an upgrade and missing after it (common columns only)."""
    lines: list[str] = []
    for table, old_rows in before.items():
        if not old_rows:
            continue
        if table not in after:
            lines.append(f"table {table} with {len(old_rows)} row(s) is gone")
            continue
        new_rows = after[table]
        columns = set(old_rows[0]) & (set(new_rows[0]) if new_rows else set(old_rows[0]))

        def key(row: dict[str, Any], columns: set[str] = columns) -> str:
            return json.dumps({name: row.get(name) for name in sorted(columns)}, sort_keys=True)

        missing = Counter(map(key, old_rows)) - Counter(map(key, new_rows))
        for row, count in sorted(missing.items())[:5]:
            lines.append(f"{table}: {row}" + (f" (x{count})" if count > 1 else ""))
        if len(missing) > 5:
            lines.append(f"{table}: ... and {len(missing) - 5} more")
    return lines
