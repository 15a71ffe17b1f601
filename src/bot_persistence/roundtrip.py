"""The migration roundtrip: every revision up, down and up again, on a throw-away database.

``bot-db roundtrip`` (and ``nox -s migrate-roundtrip``) proves the history on a
fresh database of its own, created on the server it is given and dropped after:

- **heads**: exactly one head (merge revisions are fine);
- **stairway**: every revision goes up, down and up again, in topological
  order (ancestors first, so branches and merges are walked as Alembic walks
  them); after each downgrade the schema must equal the schema before that
  revision's upgrade, compared both ways by :mod:`schema_compare`. Roots and
  revisions up to the last irreversible one do this one by one on the empty
  schema; the rest go up from base, then down from head with the seeds in
  place, then up again (see :func:`_floor`). Either way each downgrade runs
  while its revision is the newest one applied. A revision declared
  irreversible (see below) is upgraded only;
- **models**: the models match the migrations: Alembic's autogenerate finds
  nothing to do (types and server defaults compared, the server judging
  whether two default spellings are equal), and the schema ``create_all``
  builds from the models equals the one the migrations built, which also
  catches what autogenerate does not see (enum labels, CHECK expressions,
  deferrable constraints, identity columns);
- **seeds**: ``seeds/`` loads at head, and on the way back up every row and
  value that existed before an upgrade must still be there after it;
- **squawk**: each revision's own upgrade SQL is linted (:mod:`sql_lint`).

Each revision is run through ``alembic/env.py`` exactly as ``bot-db migrate``
runs it (one transaction per revision), from a script directory loaded once
and one open connection, each phase's steps handed to Alembic as one run.

A revision that truly cannot be undone declares it in its own file, next to
the downgrade that raises, with the reason::

    # irreversible: the downgrade cannot bring back what the upgrade deleted.
    irreversible = "merges duplicate tracks; which rows were merged is not kept"

A revision whose upgrade rewrites existing values on purpose (a normalising
backfill) declares ``rewrites_data = "why"``, and the seeds check does not
compare existing rows across its upgrade.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from alembic import op as alembic_op
from alembic.autogenerate import produce_migrations, render_python_code
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationStep
from alembic.script import Script, ScriptDirectory
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.exc import DBAPIError

from bot_persistence import schema_compare, seeding, sql_lint
from bot_persistence.connection import admin_url, sync_engine, translate_connect_error
from bot_persistence.errors import BotPersistenceError, MigrationCheckError
from bot_persistence.migrations import alembic_config
from bot_persistence.models import Base
from bot_persistence.project import alembic_ini
from bot_persistence.schema_compare import SchemaSnapshot
from bot_persistence.settings import Settings

__all__ = [
    "CheckResult",
    "RoundtripReport",
    "irreversible_reason",
    "revisions_in_order",
    "roundtrip",
]

Progress = Callable[["CheckResult"], None]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check's outcome: a line a person reads, and the detail when it failed."""

    check: str
    ok: bool
    summary: str
    detail: tuple[str, ...] = ()


@dataclasses.dataclass
class RoundtripReport:
    """Everything the roundtrip found, in the order it found it."""

    server: str = ""
    revisions: list[str] = dataclasses.field(default_factory=list)
    results: list[CheckResult] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0

    @property
    def findings(self) -> list[CheckResult]:
        """The failed checks."""
        return [result for result in self.results if not result.ok]

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.findings

    def raise_for_findings(self) -> None:
        """Raise :class:`MigrationCheckError` naming the first finding, if there is one."""
        if self.findings:
            first = self.findings[0]
            more = f" (and {len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
            raise MigrationCheckError(f"{first.check}: {first.summary}{more}")


def _quiet(_: CheckResult) -> None:
    return None


def revisions_in_order(script: ScriptDirectory) -> list[Script]:
    """Every revision, ancestors before descendants (a topological order of the graph)."""
    return list(reversed(list(script.walk_revisions("base", "heads"))))


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


def _label(revision: Script) -> str:
    doc = (revision.doc or "").strip().splitlines()
    return f"{revision.revision} ({doc[0]})" if doc and doc[0] else revision.revision


def _first_line(exc: BaseException) -> str:
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# -- the scratch databases ------------------------------------------------------------


@contextlib.contextmanager
def _scratch_database(server: Settings, label: str) -> Iterator[Settings]:
    """A new, empty database on ``server``, dropped on exit whatever happened.

    One maintenance connection is held for both statements: every new
    connection costs a password handshake, and the roundtrip makes few of them.
    """
    name = f"bot_roundtrip_{uuid.uuid4().hex[:10]}_{label}"
    identifier = sql.Identifier(name)
    admin = sync_engine(server, url=admin_url(server))
    try:
        try:
            conn = admin.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError as exc:
            raise translate_connect_error(exc, server) from None
        with conn:
            conn.exec_driver_sql(sql.SQL("CREATE DATABASE {}").format(identifier).as_string())
            try:
                yield _with_database(server, name)
            finally:
                conn.exec_driver_sql(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                    .format(identifier)
                    .as_string()
                )
    finally:
        admin.dispose()


def _with_database(server: Settings, name: str) -> Settings:
    """``server``'s settings naming database ``name``, keeping every other URL part."""
    url = server.url.set(database=name).render_as_string(hide_password=False)
    return server.model_copy(update={"database_url": SecretStr(url)})


# -- running steps ---------------------------------------------------------------------

#: Something to do inside a step's transaction, right after its upgrade or downgrade ran.
Action = Callable[[], None]


class _Stop(Exception):
    """Raised inside a step to end the run with a finding (the step's transaction rolls back)."""

    def __init__(self, result: CheckResult) -> None:
        super().__init__(result.summary)
        self.result = result


class _Runner:
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
            what = f"{'upgrade' if up else 'downgrade'} of {_label(revision)}"
        return CheckResult(check, False, f"{what} failed{context}: {_first_line(exc)}")


# -- the checks -------------------------------------------------------------------------


def _heads(script: ScriptDirectory) -> CheckResult:
    heads = script.get_heads()
    if len(heads) == 1:
        return CheckResult("heads", True, f"one head: {heads[0]}")
    if not heads:
        return CheckResult("heads", True, "no revisions yet")
    named = [_label(script.get_revision(head)) for head in sorted(heads)]
    return CheckResult(
        "heads",
        False,
        f"the history has {len(heads)} heads: {', '.join(sorted(heads))}",
        (
            *(f"head {label}" for label in named),
            "merge them: `alembic merge -m 'merge heads' heads`, review, and run again",
        ),
    )


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


class _Stairway:
    """Every revision up, down and up again; each downgrade restores the schema it started from.

    ``schemas[i]`` is the schema with ``order[:i + 1]`` applied (``schemas[-1]``
    the empty one), taken on the way up; a downgrade of ``order[i]`` must give
    back ``schemas[i - 1]``.
    """

    def __init__(self, runner: _Runner, order: Sequence[Script]) -> None:
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
                        f"downgrade of {_label(revision)}{seeded} does not restore the schema "
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


def _up_with_data(stairway: _Stairway) -> CheckResult:
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
            lost = [] if _declared(revision, "rewrites_data") else _lost(before, after)
            if lost:
                raise _Stop(
                    CheckResult(
                        "seeds",
                        False,
                        f"upgrade of {_label(revision)} loses or changes existing data",
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


def _schema_from_models(server: Settings, metadata: MetaData) -> SchemaSnapshot:
    """The schema ``create_all`` builds from the models, in a scratch database of its own.

    Independent of the migrations, so it runs in a thread alongside them.
    """
    with _scratch_database(server, "models") as models_db:
        engine = sync_engine(models_db)
        try:
            with engine.connect() as conn:
                metadata.create_all(conn)
                conn.commit()
                return schema_compare.snapshot(conn)
        finally:
            engine.dispose()


def _model_match(
    runner: _Runner,
    metadata: MetaData,
    from_models: Future[SchemaSnapshot],
    migrated: SchemaSnapshot,
) -> CheckResult:
    """No pending autogenerate diff, and the models' own DDL builds the same schema."""
    context = MigrationContext.configure(
        connection=runner.conn,
        opts={"compare_type": True, "compare_server_default": True, "target_metadata": metadata},
    )
    operations = produce_migrations(context, metadata).upgrade_ops
    pending = (
        []
        if operations is None or operations.is_empty()
        else textwrap.dedent(
            "\n".join(
                line
                for line in render_python_code(operations).splitlines()
                if line.strip() and not line.lstrip().startswith("# ###")
            )
        ).splitlines()
    )
    migrated, models = schema_compare.without_equivalent_defaults(
        runner.conn, migrated, from_models.result()
    )
    runner.conn.rollback()
    difference = schema_compare.diff(migrated, models, labels=("migrations", "models"))
    if not pending and not difference:
        return CheckResult(
            "models", True, "models match the migrations (autogenerate and schema compare)"
        )
    detail: list[str] = []
    if pending:
        detail += ["autogenerate would write:", *(f"  {line}" for line in pending)]
    if difference:
        detail += ["schema from migrations (-) against schema from models (+):", *difference]
    if pending:
        detail.append(
            'write the migration: `bot-db revision -m "..."` against a migrated database, '
            "review it, and run the roundtrip again"
        )
    else:
        detail.append(
            "autogenerate does not see these: write them by hand in "
            '`bot-db revision -m "..." --empty`, or change the models back'
        )
    return CheckResult("models", False, "the models and the migrations differ", tuple(detail))


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


def _lint_result(pending: sql_lint.PendingLint, count: int) -> CheckResult:
    findings = pending.findings()
    blocking = [finding for finding in findings if finding.exempt_because is None]
    exempted = [finding for finding in findings if finding.exempt_because is not None]
    notes = tuple(
        f"{finding.revision}: {finding.rule} exempted ({finding.exempt_because})"
        for finding in exempted
    )
    if blocking:
        by_revision = sorted({finding.revision for finding in blocking})
        return CheckResult(
            "squawk",
            False,
            f"{len(blocking)} unsafe operation(s) in revision(s) {', '.join(by_revision)}",
            (
                *(f"{finding.revision}: {finding.describe()}" for finding in blocking),
                "make the operation safe for a busy table, or add a squawk_exemptions entry "
                "with the reason to that revision (docs/migrations.md)",
            ),
        )
    return CheckResult(
        "squawk",
        True,
        f"{count} revision(s) linted, no unsafe operation"
        + (f" ({len(exempted)} exempted)" if exempted else ""),
        notes,
    )


# -- the whole roundtrip ------------------------------------------------------------------


def roundtrip(
    server: Settings,
    *,
    ini: Path | None = None,
    metadata: MetaData | None = None,
    seeds_folder: Path | None = None,
    lint: bool = True,
    script: ScriptDirectory | None = None,
    progress: Progress = _quiet,
) -> RoundtripReport:
    """Run every check on fresh databases created on ``server`` and dropped after.

    ``server`` names a server where its user may create databases; its own
    database is never touched. ``metadata`` defaults to the models'. A check
    that cannot run because an earlier one failed (no single head, a broken
    stairway) is left out rather than reported twice.
    """
    started = time.perf_counter()
    metadata = metadata if metadata is not None else Base.metadata
    config_ini = ini or alembic_ini()
    if script is None:
        script = ScriptDirectory.from_config(alembic_config(server, ini=config_ini))
    report = RoundtripReport()

    def add(result: CheckResult) -> None:
        report.results.append(result)
        progress(result)

    order = revisions_in_order(script)
    report.revisions = [revision.revision for revision in order]
    heads = _heads(script)
    add(heads)
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="models") as background,
        _scratch_database(server, "steps") as database,
        sync_engine(database).connect() as conn,
    ):
        report.server = f"PostgreSQL {conn.execute(text('SHOW server_version')).scalar_one()}"
        major = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
        conn.rollback()
        # The models' own schema and squawk are built alongside the stairway.
        from_models = background.submit(_schema_from_models, server, metadata)
        pending = (
            sql_lint.start_lint(script, order, url=database.url, pg_major=major) if lint else None
        )
        try:
            if heads.ok:
                runner = _Runner(
                    script, alembic_config(database, connection=conn, ini=config_ini), conn
                )
                for result in _database_checks(runner, order, metadata, from_models, seeds_folder):
                    add(result)
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        if pending is not None:
            add(_lint_result(pending, len(order)))
    report.elapsed = time.perf_counter() - started
    return report


def _database_checks(
    runner: _Runner,
    order: Sequence[Script],
    metadata: MetaData,
    from_models: Future[SchemaSnapshot],
    seeds_folder: Path | None,
) -> Iterator[CheckResult]:
    """Stairway, models and seeds, in the order they can run; stops where one breaks."""
    stairway = _Stairway(runner, order)
    broken = stairway.up_from_base()
    if broken is not None:
        yield broken
        return
    models = _model_match(runner, metadata, from_models, stairway.schemas[len(order) - 1])
    seeds: CheckResult | None = None
    try:
        with runner.conn.begin():
            seeded = seeding.apply_seeds_on(runner.conn, folder=seeds_folder)
        stairway.seeded = True
    except (BotPersistenceError, DBAPIError) as exc:
        # The walk down and up still runs, on the empty schema.
        seeds = CheckResult("seeds", False, f"the seeds do not load at head: {_first_line(exc)}")
    broken = stairway.down_to_floor()
    data = _up_with_data(stairway) if broken is None else None
    if data is not None and data.check == "stairway":
        broken = data
    yield broken or stairway.result()
    yield models
    if seeds is not None:
        yield seeds
    elif data is not None and broken is None:
        summary = f"seeds ({seeded.summary()}) {data.summary}" if data.ok else data.summary
        yield dataclasses.replace(data, summary=summary)
