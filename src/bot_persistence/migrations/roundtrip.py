"""The migration roundtrip: every revision up, down and up again, on a throw-away database.

``bot-db roundtrip`` (and ``nox -s migrate-roundtrip``) proves the history on a
fresh database of its own, created on the server it is given and dropped after:

- **heads**: exactly one head (merge revisions are fine), since the stairway
  walks one history;
- **stairway**: every revision goes up, down and up again, in topological
  order (ancestors first, so branches and merges are walked as Alembic walks
  them); after each downgrade the schema must equal the schema before that
  revision's upgrade, compared both ways by :mod:`schema_compare`. Roots and
  revisions up to the last irreversible one do this one by one on the empty
  schema; the rest go up from base, then down from head with the seeds in
  place, then up again (:mod:`stairway` walks the graph). Either way each downgrade runs
  while its revision is the newest one applied. A revision declared
  irreversible (see below) is upgraded only;
- **models**: the schema ``create_all`` builds from the models equals the one
  the migrations built, compared catalogue to catalogue, so it also catches
  what Alembic's autogenerate does not see (enum labels, CHECK expressions,
  deferrable constraints, identity columns); the server judges whether two
  default spellings are equal;
- **seeds**: the sample data loads at head, and on the way back up every row
  and value that existed before an upgrade must still be there after it. The
  caller hands in the loader (``bot-db roundtrip`` gives
  :func:`bot_persistence.devdb.seeding.apply_seeds_on`): seeding is a
  dev-database workflow, which stands above the migration tooling and uses it;
- **squawk**: each revision's own upgrade SQL is linted (:mod:`sql_lint`).

Each revision is run through ``alembic/env.py`` exactly as ``bot-db migrate``
runs it (one transaction per revision), from a script directory loaded once
and one open connection, each phase's steps handed to Alembic as one run.

A revision may declare that it is ``irreversible`` or ``rewrites_data``, and
may carry ``squawk_exemptions``, each with the reason in words; see
:mod:`stairway`, :mod:`sql_lint` and docs/migrations.md.

What pytest-alembic checks well is left to it, in the test suite
(``tests/integration/test_alembic_builtin.py``): upgrade from empty to head,
down and up again, a single head, and autogenerate finding nothing to write.
This module keeps what it lacks: the catalogue-level compares (after each
downgrade, and models against migrations), seeds surviving each upgrade,
squawk per revision, and the ``irreversible``/``rewrites_data`` exemptions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import psycopg
from alembic.script import Script, ScriptDirectory
from pydantic import SecretStr
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.exc import DBAPIError

from bot_persistence.connection import (
    MAINTENANCE_DATABASE,
    connect,
    first_line,
    sync_engine,
)
from bot_persistence.errors import (
    BotPersistenceError,
    ConfigurationError,
)
from bot_persistence.migrations import alembic_config, schema_compare, sql_lint
from bot_persistence.migrations.schema_compare import SchemaSnapshot
from bot_persistence.migrations.stairway import (
    CheckResult,
    Stairway,
    StepRunner,
    irreversible_reason,
    label,
    up_with_data,
)
from bot_persistence.models import Base
from bot_persistence.project import alembic_ini
from bot_persistence.provision.databases import create_database, drop_database
from bot_persistence.settings import Settings

__all__ = [
    "CheckResult",
    "RoundtripReport",
    "irreversible_reason",
    "revisions_in_order",
    "roundtrip",
]

Progress = Callable[["CheckResult"], None]


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


def _quiet(_: CheckResult) -> None:
    return None


def revisions_in_order(script: ScriptDirectory) -> list[Script]:
    """Every revision, ancestors before descendants (a topological order of the graph)."""
    return list(reversed(list(script.walk_revisions("base", "heads"))))


# -- the scratch databases ------------------------------------------------------------


@contextlib.contextmanager
def _scratch_database(server: Settings, label: str) -> Iterator[Settings]:
    """A new, empty database on ``server``, dropped on exit whatever happened.

    One maintenance connection is held for both statements: every new
    connection costs a password handshake, and the roundtrip makes few of them.
    """
    name = f"bot_roundtrip_{uuid.uuid4().hex[:10]}_{label}"
    with connect(server, database=MAINTENANCE_DATABASE) as conn:
        try:
            create_database(conn, name)
        except psycopg.errors.InsufficientPrivilege:
            raise ConfigurationError(
                f"user {server.user!r} may not create databases on "
                f"{server.host}:{server.port}, and the roundtrip needs one of its own: "
                "grant CREATEDB, or leave out --url/DATABASE_URL to use a throw-away "
                "server"
            ) from None
        try:
            yield _with_database(server, name)
        finally:
            drop_database(conn, name)


def _with_database(server: Settings, name: str) -> Settings:
    """``server``'s settings naming database ``name``, keeping every other URL part."""
    url = server.parsed_url.with_database(name).render(hide_password=False)
    return server.model_copy(update={"database_url": SecretStr(url)})


# -- the checks -------------------------------------------------------------------------


def _heads(script: ScriptDirectory) -> CheckResult:
    heads = script.get_heads()
    if len(heads) == 1:
        return CheckResult("heads", True, f"one head: {heads[0]}")
    if not heads:
        return CheckResult("heads", True, "no revisions yet")
    named = [label(script.get_revision(head)) for head in sorted(heads)]
    return CheckResult(
        "heads",
        False,
        f"the history has {len(heads)} heads: {', '.join(sorted(heads))}",
        (
            *(f"head {label}" for label in named),
            "merge them: `alembic merge -m 'merge heads' heads`, review, and run again",
        ),
    )


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
    runner: StepRunner,
    from_models: Future[SchemaSnapshot],
    migrated: SchemaSnapshot,
) -> CheckResult:
    """The models' own DDL builds the schema the migrations built (catalogue compare)."""
    migrated, models = schema_compare.without_equivalent_defaults(
        runner.conn, migrated, from_models.result()
    )
    runner.conn.rollback()
    difference = schema_compare.diff(migrated, models, labels=("migrations", "models"))
    if not difference:
        return CheckResult("models", True, "models match the migrations (schema compare)")
    detail = [
        "schema from migrations (-) against schema from models (+):",
        *difference,
        'write the migration: `bot-db revision -m "..."` against a migrated database '
        "autogenerates most of it; what autogenerate does not see (a CHECK, an enum label) "
        'goes in by hand, or in `bot-db revision -m "..." --empty`; review it and run again',
    ]
    return CheckResult("models", False, "the models and the migrations differ", tuple(detail))


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


class SeedSummary(Protocol):
    """What a seed loader reports: one line saying what it loaded."""

    def summary(self) -> str: ...


#: Loads the sample data through an open connection, in the caller's transaction.
Seeder = Callable[[Connection], SeedSummary]


# -- the whole roundtrip ------------------------------------------------------------------


def roundtrip(
    server: Settings,
    *,
    ini: Path | None = None,
    metadata: MetaData | None = None,
    seed: Seeder,
    lint: bool = True,
    script: ScriptDirectory | None = None,
    progress: Progress = _quiet,
) -> RoundtripReport:
    """Run every check on fresh databases created on ``server`` and dropped after.

    ``server`` names a server where its user may create databases; its own
    database is never touched. ``metadata`` defaults to the models'. ``seed``
    loads the sample data whose survival across upgrades is checked. A check
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
        conn.rollback()
        # The models' own schema and squawk are built alongside the stairway.
        from_models = background.submit(_schema_from_models, server, metadata)
        pending = sql_lint.start_lint(script, order, url=database.url) if lint else None
        try:
            if heads.ok:
                runner = StepRunner(
                    script, alembic_config(database, connection=conn, ini=config_ini), conn
                )
                for result in _database_checks(runner, order, from_models, seed):
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
    runner: StepRunner,
    order: Sequence[Script],
    from_models: Future[SchemaSnapshot],
    seed: Seeder,
) -> Iterator[CheckResult]:
    """Stairway, models and seeds, in the order they can run; stops where one breaks."""
    stairway = Stairway(runner, order)
    broken = stairway.up_from_base()
    if broken is not None:
        yield broken
        return
    models = _model_match(runner, from_models, stairway.schemas[len(order) - 1])
    seeds: CheckResult | None = None
    try:
        with runner.conn.begin():
            seeded = seed(runner.conn)
        stairway.seeded = True
    except (BotPersistenceError, DBAPIError) as exc:
        # The walk down and up still runs, on the empty schema.
        seeds = CheckResult("seeds", False, f"the seeds do not load at head: {first_line(exc)}")
    broken = stairway.down_to_floor()
    data = up_with_data(stairway) if broken is None else None
    if data is not None and data.check == "stairway":
        broken = data
    yield broken or stairway.result()
    yield models
    if seeds is not None:
        yield seeds
    elif data is not None and broken is None:
        summary = f"seeds ({seeded.summary()}) {data.summary}" if data.ok else data.summary
        yield dataclasses.replace(data, summary=summary)
