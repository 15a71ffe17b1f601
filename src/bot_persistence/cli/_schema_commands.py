"""``bot-db migrate|migrations|deploy|downgrade|revision|seed|reset|roundtrip|erd``.

The schema and its data: migrations, seeds, rebuilding the database, proving
the migrations and drawing the schema. The conventions every command follows
are in :mod:`bot_persistence.cli._commands`; Alembic and the ORM load inside
the commands that need them.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from bot_persistence.cli._commands import check_ours, report_json
from bot_persistence.cli.output import Console

if TYPE_CHECKING:
    from bot_persistence.devdb.target import Target
    from bot_persistence.migrations.roundtrip import CheckResult
    from bot_persistence.settings import Settings

__all__ = [
    "cmd_deploy",
    "cmd_downgrade",
    "cmd_erd",
    "cmd_grants",
    "cmd_migrate",
    "cmd_migrations",
    "cmd_reset",
    "cmd_revision",
    "cmd_roundtrip",
    "cmd_seed",
]


def cmd_migrate(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Migrate to head, or to --to REV, under the migration lock (--sql prints it instead)."""
    from bot_persistence import migrations

    settings = target.settings
    if args.sql:
        sql_text = migrations.upgrade_sql(settings, args.to)
        report_json(args, out, {"target": args.to, "sql": sql_text})
        out.line(sql_text.rstrip("\n"))
        return 0
    check_ours(args, target)
    with out.step(f"migrate   to {args.to}"), target.sqlalchemy() as conn:
        result = migrations.upgrade(settings, args.to, connection=conn)
    report_json(
        args, out, {"before": result.before, "after": result.after, "changed": result.changed}
    )
    if result.changed:
        out.ok(f"migrated {result.before or 'base'} -> {result.after}")
    else:
        out.ok(f"already at {result.after or 'base'}")
    return 0


def cmd_migrations(args: argparse.Namespace, target: Target, out: Console) -> int:
    """List the migrations, oldest first, as applied or pending (--json for machines)."""
    from bot_persistence import migrations

    states = migrations.migration_states(target.settings)
    report_json(args, out, [state.as_dict() for state in states])
    for state in states:
        mark = out.paint("[x]", "green") if state.applied else "[ ]"
        notes = [note for note, on in (("current", state.current), ("head", state.head)) if on]
        suffix = out.paint(f"  ({', '.join(notes)})", "dim") if notes else ""
        out.line(f"{mark} {state.revision}  {state.message}{suffix}")
    pending = sum(not state.applied for state in states)
    out.line(f"{len(states) - pending} applied, {pending} pending")
    return 0


def cmd_deploy(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Deploy migrations to a real database: plan, then migrate under the lock (never seeds)."""
    from bot_persistence.migrations import deploy

    # As BOT_DB_MIGRATION_URL's role when set: the owner migrates, the bot's role need not.
    settings = target.settings.for_migrations()
    planned = deploy.plan(settings)
    # `--sql -`: standard output is the SQL alone, to pipe into psql; the plan is for people.
    people = Console(out.err, err=out.err, json_mode=out.json_mode) if args.sql == "-" else out
    people.ok(f"plan      {planned.summary()}")
    for step in planned.steps:
        people.line(f"    {step.revision}  {step.message}")
    report: dict[str, object] = {
        "database": planned.database,
        "current": planned.current,
        "target": planned.target,
        "steps": [{"revision": step.revision, "message": step.message} for step in planned.steps],
    }
    if args.sql is not None:
        rendered = deploy.upgrade_sql(settings, planned)
        if args.sql == "-":
            report_json(args, out, {**report, "sql": rendered})
            out.line(rendered.rstrip("\n"))
        else:
            Path(args.sql).write_text(rendered, encoding="utf-8")
            report_json(args, out, {**report, "sql_file": args.sql, "ran": False})
            out.ok(f"sql       wrote {args.sql} for review; nothing was run")
        return 0
    if planned.up_to_date:
        report_json(args, out, {**report, "ran": False, "after": planned.current})
        out.ok(f"deploy    nothing to do: at {planned.current or 'base'}")
        return 0
    result = deploy.deploy(settings, planned)
    report_json(args, out, {**report, "ran": result.changed, "after": result.after})
    if not result.changed:  # it waited for the lock while another deployer ran the plan
        out.ok(f"deploy    nothing to do: another deploy took it to {result.after or 'base'}")
        return 0
    out.ok(f"deploy    {result.before or 'base'} -> {result.after}")
    return 0


def cmd_grants(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Print the GRANTs a DML-only runtime role ROLE needs; --apply runs them (guarded)."""
    from bot_persistence.connection import connected_engine
    from bot_persistence.devdb import guards
    from bot_persistence.migrations import grants

    owner = target.settings.for_migrations()  # only the tables' owner may grant on them
    statements = grants.runtime_grants(args.role, database=owner.database, owner=owner.user)
    report: dict[str, object] = {"role": args.role, "owner": owner.user, "statements": statements}
    if not args.apply:
        report_json(args, out, {**report, "applied": False})
        for statement in statements:
            out.line(f"{statement};")
        return 0
    guards.guard_destructive(owner, action=f"grant {args.role}", force=args.force)
    guards.confirm(
        f"Grant {args.role!r} rows-only access to {owner.database!r} as {owner.user!r}?",
        yes=args.yes,
        stdin=args.stdin,
    )
    with connected_engine(owner) as engine, engine.connect() as conn:
        grants.apply_grants(conn, statements)
    report_json(args, out, {**report, "applied": True})
    out.ok(f"granted   {args.role} rows-only access to {owner.database!r} as {owner.user}")
    return 0


def cmd_downgrade(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Downgrade to REV (a revision id, -1 or base); destroys data, so it is guarded."""
    from bot_persistence import migrations
    from bot_persistence.devdb import guards

    settings = target.settings
    guards.guard_destructive(settings, action=f"downgrade to {args.revision}", force=args.force)
    guards.confirm(
        f"Downgrade {settings.database!r} to {args.revision}, dropping what later revisions hold?",
        yes=args.yes,
        stdin=args.stdin,
    )
    check_ours(args, target)
    with out.step(f"downgrade to {args.revision}"), target.sqlalchemy() as conn:
        result = migrations.downgrade(settings, args.revision, connection=conn)
    report_json(
        args, out, {"before": result.before, "after": result.after, "changed": result.changed}
    )
    out.ok(f"downgraded {result.before or 'base'} -> {result.after or 'base'}")
    return 0


def cmd_revision(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Write a new migration, autogenerated from the models (review it before committing)."""
    import importlib.util

    from bot_persistence import migrations

    path = migrations.new_revision(target.settings, args.message, autogenerate=not args.empty)
    formatted = importlib.util.find_spec("ruff") is not None  # the post-write hook's formatter
    report_json(args, out, {"path": str(path), "formatted": formatted})
    out.ok(f"wrote {path}")
    if not formatted:
        out.warn(
            f"{path} is not formatted: ruff is not installed here; `pip install ruff` "
            "(the lint group) and run `ruff format` on it before committing"
        )
    out.line(
        out.paint("Review it, then run `bot-db migrate` and `nox -s migrate-roundtrip`.", "dim")
    )
    return 0


def cmd_seed(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Apply seeds/ again (an idempotent upsert; your other rows are kept)."""
    from bot_persistence.devdb import guards, health, seeding

    guards.guard_seeding(target.settings, force=args.force)  # refuse before connecting anywhere
    check_ours(args, target)
    health.require_known_revision(target)
    if args.scale is not None:
        return _seed_at_scale(args, target, out)
    with out.step("seed      applying seeds/"):
        report = seeding.apply_seeds(target, force=args.force)
    report_json(args, out, {"counts": report.counts})
    out.ok(f"seeded {report.summary()}")
    return 0


def _seed_at_scale(args: argparse.Namespace, target: Target, out: Console) -> int:
    """``seed --scale N``: the generated data set N, S, loaded by COPY (nothing if it is there)."""
    from bot_persistence.devdb import scale_seed
    from bot_persistence.errors import ConfigurationError

    if args.scale < 1:
        raise ConfigurationError("--scale must be 1 or more (1: 100,000 playlist tracks)")
    with out.step(f"seed      generating scale {args.scale} (seed {args.seed})"):
        report = scale_seed.load_scale(target.connection(), args.scale, args.seed)
    report_json(
        args,
        out,
        {
            "scale": args.scale,
            "seed": args.seed,
            "counts": report.counts,
            "loaded": report.loaded,
            "replaced": report.replaced,
            "elapsed": round(report.elapsed, 3),
        },
    )
    if report.loaded:
        out.ok(f"seeded scale {args.scale} in {report.elapsed:.1f}s: {report.summary()}")
    else:
        out.ok(f"already seeded at scale {args.scale}, seed {args.seed}: {report.summary()}")
    return 0


def cmd_reset(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Drop the database and rebuild it: migrated to head and seeded (guarded)."""
    from bot_persistence import devdb
    from bot_persistence.devdb import branch_databases, guards, snapshots
    from bot_persistence.provision import select_backend

    settings = target.settings
    guards.guard_destructive(settings, action="reset the database", force=args.force)
    guards.guard_seeding(settings, force=args.force)
    guards.confirm(
        f"Drop database {settings.database!r} and rebuild it from migrations and seeds?",
        yes=args.yes,
        stdin=args.stdin,
    )
    backend, _ = select_backend(target.server, args.backend)
    if not backend.status().created:
        from bot_persistence.errors import ServerNotRunningError

        raise ServerNotRunningError(
            f"there is no {backend.name} dev database here yet, so nothing to reset; "
            "`bot-db up` creates one"
        )
    backend.ensure_ours()
    if args.snapshot:
        with out.step(f"server    starting ({backend.name})"):
            backend.up()
        taken, pruned = snapshots.save_before_reset(target)
        if taken is not None:
            out.ok(f"snapshot  {taken.name} ({taken.size}): `bot-db snapshot restore {taken.name}`")
        if pruned:
            out.ok(f"snapshot  removed older automatic ones: {', '.join(pruned)}")
    report = devdb.reset(target, backend, force=args.force, step=out.step)
    if target.branch is not None:
        branch_databases.ensure(target)  # the new database: say whose it is, used now
    report_json(
        args,
        out,
        {
            "database": settings.database,
            "migration": {"before": report.migration.before, "after": report.migration.after},
            "seeds": report.seeds.counts if report.seeds else None,
            "elapsed": round(report.elapsed, 3),
        },
    )
    out.ok(
        f"reset {settings.database!r}: at {report.migration.after}, seeded in {report.elapsed:.2f}s"
    )
    return 0


def _print_check(out: Console, result: CheckResult) -> None:
    line = f"{result.check:<9} {result.summary}"
    if result.ok:
        out.ok(line)
    else:
        out.fail(line)
    for detail in result.detail:
        out.line(f"    {detail}" if not result.ok else out.paint(f"    {detail}", "dim"))


def cmd_roundtrip(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Prove the migrations on a throw-away database: stairway, drift, seeds, squawk."""
    from bot_persistence.devdb import seeding
    from bot_persistence.migrations import roundtrip
    from bot_persistence.provision.scratch import DEFAULT_MAJOR, throwaway_server

    def run(server: Settings, source: str) -> int:
        out.field("server", source)
        report = roundtrip.roundtrip(
            server,
            seed=seeding.apply_seeds_on,
            lint=not args.no_lint,
            progress=lambda r: _print_check(out, r),
        )
        count = len(report.findings)
        summary = (
            f"{len(report.revisions)} revision(s) on {report.server} in {report.elapsed:.2f}s: "
            + ("all checks passed" if report.ok else f"{count} finding(s)")
        )
        (out.ok if report.ok else out.fail)(summary)
        report_json(
            args,
            out,
            {
                "server": report.server,
                "revisions": report.revisions,
                "ok": report.ok,
                "elapsed": round(report.elapsed, 3),
                "checks": [
                    {"check": r.check, "ok": r.ok, "summary": r.summary, "detail": r.detail}
                    for r in report.results
                ],
            },
        )
        return 0 if report.ok else 1

    if args.url:
        from bot_persistence.settings import Settings

        given = Settings.from_values(database_url=args.url, backend="external")
        return run(given, f"{given.masked_url} (a scratch database of its own on it)")
    settings = target.settings
    if args.pg is None and settings.url_from_environment:
        return run(settings, f"DATABASE_URL {settings.masked_url} (a scratch database of its own)")
    major = args.pg or DEFAULT_MAJOR
    with contextlib.ExitStack() as stack:
        with out.step(f"server    starting a throw-away PostgreSQL {major}"):
            scratch = stack.enter_context(
                throwaway_server(
                    major,
                    image=settings.postgres_image,
                    prefer_container=args.container,
                    may_pull=settings.may_pull_images,
                )
            )
        return run(scratch.settings, scratch.source)


def cmd_erd(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Print the schema as a Mermaid ER diagram (--write updates docs/schema.md)."""
    from bot_persistence.devdb import erd
    from bot_persistence.project import checkout_root

    if not args.write:
        out.line(erd.mermaid().rstrip("\n"))
        return 0
    document = checkout_root() / "docs" / "schema.md"
    changed = erd.replace_block(document)
    out.ok(f"{'updated' if changed else 'unchanged'} {document}")
    return 0
