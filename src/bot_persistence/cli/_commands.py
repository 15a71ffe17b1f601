"""The ``bot-db`` subcommands: one small function each, the work done elsewhere.

Each takes the parsed arguments, the settings and a
:class:`~bot_persistence.cli.output.Console`, and returns the exit code; the
first line of its docstring is the command's help text (``_parser`` reads it).
Failures are raised as our typed errors and printed by ``_main``. ``args.branch``
is the checkout's git branch and its database when branch databases apply
(``settings`` then name that database), else ``None``.

The work's modules are imported inside the commands that use them: ``check``,
``status`` and ``url`` start in a fraction of the time it takes to load
Alembic, the ORM models and the seed schemas, which only ``migrate``,
``revision``, ``seed``, ``roundtrip``, ``erd``, ``smoke`` and a cold ``up`` need.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from bot_persistence.cli.output import Console
from bot_persistence.settings import Settings

if TYPE_CHECKING:
    from bot_persistence.devdb.branches import BranchTarget
    from bot_persistence.migrations.roundtrip import CheckResult

Handler = Callable[[argparse.Namespace, Settings, Console], int]


def server_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings the server is started and stopped with: as configured, whichever
    branch's database the command works on (``settings`` name that one)."""
    branch: BranchTarget | None = args.branch
    return branch.base if branch is not None else settings


def cmd_up(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Start the dev database: server, migrations, seeds, probe."""
    from bot_persistence import devdb

    report = devdb.up(
        settings,
        backend=args.backend,
        seed=args.seed,
        progress=out.ok,
        branch=args.branch,
        force=args.force,
    )
    out.ok(f"check     {report.health.server_version}, revision {report.health.revision}")
    out.line()
    out.field("ready in", f"{report.elapsed:.2f}s")
    out.field("url", report.url)
    if args.branch is not None:
        hint = "This branch's own database; `bot-db url` prints its URL with the password."
    else:
        hint = "Put DATABASE_URL in .env with `bot-db url` (it prints the password)."
    out.line(out.paint(hint, "dim"))
    return 0


def cmd_down(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Stop the dev server, keeping its data (--purge deletes the data)."""
    from bot_persistence.devdb import guards
    from bot_persistence.provision import select_backend

    backend, _ = select_backend(server_settings(args, settings), args.backend)
    if args.purge:
        guards.guard_destructive(settings, action="delete the database data", force=args.force)
        guards.confirm(
            f"Delete all data of the {backend.name} dev database?", yes=args.yes, stdin=args.stdin
        )
    out.ok(backend.down(purge=args.purge))
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Show the server, the schema revision and row counts (--json for machines)."""
    from bot_persistence import devdb
    from bot_persistence.devdb import branch_databases, health
    from bot_persistence.provision import select_backend

    branch: BranchTarget | None = args.branch
    backend, reason = select_backend(server_settings(args, settings), args.backend)
    server = backend.status()
    report = health.probe(settings)
    counts = devdb.table_counts(settings) if report.database_present and report.at_head else {}
    disk = branch_databases.disk_use(settings) if report.authenticated else None
    use = health.connection_use(settings) if report.database_present else None
    if args.json:
        out.json(
            {
                "backend": backend.name,
                "reason": reason,
                "server": {"running": server.running, "detail": server.detail, "data": server.data},
                "branch": {"name": branch.label, "database": branch.database} if branch else None,
                "disk": disk.as_dict() if disk else None,
                "health": report.as_dict(),
                "counts": counts,
                "connections": dataclasses.asdict(use) if use else None,
            }
        )
        return 0 if report.ok else 1
    out.field("backend", f"{backend.name} ({reason})")
    out.field("server", server.detail)
    if branch is not None:
        out.field("branch", f"{branch.label}: database {branch.database}")
    out.field("url", report.url)
    out.field("revision", f"{report.revision or 'base'} (head {report.head})")
    if disk is not None:
        out.field("disk", disk.describe())
    if use is not None:
        out.field("sessions", use.describe())
    if counts:
        out.field("rows", ", ".join(f"{name} {count}" for name, count in counts.items()))
    if report.error is not None:
        out.fail(str(report.error))
        return 1
    return 0


def cmd_check(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Probe the database: reachable, authenticated, present, at head (exit 1 if not)."""
    from bot_persistence.devdb import health

    report = health.probe(settings)
    if args.json:
        out.json(report.as_dict())
        return 0 if report.ok else 1
    if report.error is not None:
        out.fail(str(report.error))
        return 1
    out.ok(
        f"{report.url}: PostgreSQL {report.server_version}, at head {report.head} "
        f"({report.elapsed_ms:.0f} ms)"
    )
    return 0


def cmd_url(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Print the connection URL with its password, to paste into .env or a tool."""
    url = settings.url if args.driver else settings.url.set(drivername="postgresql")
    out.line(url.render_as_string(hide_password=False))
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Migrate to head, or to --to REV, under the migration lock."""
    from bot_persistence import migrations

    result = migrations.upgrade(settings, args.to)
    if result.changed:
        out.ok(f"migrated {result.before or 'base'} -> {result.after}")
    else:
        out.ok(f"already at {result.after or 'base'}")
    return 0


def cmd_deploy(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Deploy migrations to a real database: plan, then migrate under the lock (never seeds)."""
    from bot_persistence.migrations import deploy

    planned = deploy.plan(settings)
    out.ok(f"plan      {planned.summary()}")
    for step in planned.steps:
        out.line(f"    {step.revision}  {step.message}")
    if args.sql is not None:
        rendered = deploy.upgrade_sql(settings, planned)
        if args.sql == "-":
            out.line(rendered.rstrip("\n"))
        else:
            Path(args.sql).write_text(rendered, encoding="utf-8")
            out.ok(f"sql       wrote {args.sql} for review; nothing was run")
        return 0
    if planned.up_to_date:
        out.ok(f"deploy    nothing to do: at {planned.current or 'base'}")
        return 0
    result = deploy.deploy(settings, planned)
    out.ok(f"deploy    {result.before or 'base'} -> {result.after}")
    return 0


def cmd_downgrade(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Downgrade to REV (a revision id, -1 or base); destroys data, so it is guarded."""
    from bot_persistence import migrations
    from bot_persistence.devdb import guards

    guards.guard_destructive(settings, action=f"downgrade to {args.revision}", force=args.force)
    guards.confirm(
        f"Downgrade {settings.database!r} to {args.revision}, dropping what later revisions hold?",
        yes=args.yes,
        stdin=args.stdin,
    )
    result = migrations.downgrade(settings, args.revision)
    out.ok(f"downgraded {result.before or 'base'} -> {result.after or 'base'}")
    return 0


def cmd_revision(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Write a new migration, autogenerated from the models (review it before committing)."""
    from bot_persistence import migrations

    path = migrations.new_revision(settings, args.message, autogenerate=not args.empty)
    out.ok(f"wrote {path}")
    out.line(
        out.paint("Review it, then run `bot-db migrate` and `nox -s migrate-roundtrip`.", "dim")
    )
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Apply seeds/ again (an idempotent upsert; your other rows are kept)."""
    from bot_persistence.devdb import guards, health, seeding

    guards.guard_seeding(settings, force=args.force)  # refuse before connecting anywhere
    health.require_known_revision(settings)
    report = seeding.apply_seeds(settings, force=args.force)
    out.ok(f"seeded {report.summary()}")
    return 0


def cmd_reset(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Drop the database and rebuild it: migrated to head and seeded (guarded)."""
    from bot_persistence import devdb
    from bot_persistence.devdb import branch_databases, guards, snapshots
    from bot_persistence.provision import select_backend

    guards.guard_destructive(settings, action="reset the database", force=args.force)
    guards.guard_seeding(settings, force=args.force)
    guards.confirm(
        f"Drop database {settings.database!r} and rebuild it from migrations and seeds?",
        yes=args.yes,
        stdin=args.stdin,
    )
    backend, _ = select_backend(server_settings(args, settings), args.backend)
    if args.snapshot:
        backend.up()
        taken, pruned = snapshots.save_before_reset(settings)
        if taken is not None:
            out.ok(f"snapshot  {taken.name} ({taken.size}): `bot-db snapshot restore {taken.name}`")
        if pruned:
            out.ok(f"snapshot  removed older automatic ones: {', '.join(pruned)}")
    report = devdb.reset(settings, backend, force=args.force)
    if args.branch is not None:
        branch_databases.ensure(args.branch)  # the new database: say whose it is, used now
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


def cmd_roundtrip(args: argparse.Namespace, settings: Settings, out: Console) -> int:
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
        return 0 if report.ok else 1

    if args.url:
        given = Settings.from_values(database_url=args.url, backend="external")
        return run(given, f"{given.masked_url} (a scratch database of its own on it)")
    if args.pg is None and settings.url_from_environment:
        return run(settings, f"DATABASE_URL {settings.masked_url} (a scratch database of its own)")
    with throwaway_server(args.pg or DEFAULT_MAJOR, image=settings.postgres_image) as scratch:
        return run(scratch.settings, scratch.source)


def cmd_smoke(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Run the bot's flows end to end against the database, leaving it as it was."""
    import asyncio

    from bot_persistence.devdb import smoke  # the async stack loads only for this command
    from bot_persistence.errors import SmokeFailedError

    try:
        asyncio.run(smoke.run(settings, progress=out.ok))
    except SmokeFailedError as exc:
        out.fail(str(exc))
        return exc.exit_code
    out.ok("smoke test passed; the database is as it was")
    return 0


def _psql() -> str:
    import shutil

    from bot_persistence.provision.embedded import embedded_bin_dir

    found = shutil.which("psql")
    if found:
        return found
    return str(embedded_bin_dir() / "psql")


def cmd_shell(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Open psql on the dev database with the project's .psqlrc (extra args go to psql)."""
    import subprocess

    from bot_persistence.project import psqlrc

    target = settings.url.set(drivername="postgresql", password=None)
    env = {**os.environ, "PGPASSWORD": settings.password, "PGCONNECT_TIMEOUT": "5"}
    rc_file = psqlrc()
    if rc_file.is_file():
        env["PSQLRC"] = str(rc_file)
    extra = [arg for arg in args.psql_args if arg != "--"]
    command = [_psql(), target.render_as_string(hide_password=False), *extra]
    return subprocess.run(command, env=env, check=False).returncode


def cmd_erd(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Print the schema as a Mermaid ER diagram (--write updates docs/schema.md)."""
    from bot_persistence.devdb import erd
    from bot_persistence.project import checkout_root

    if not args.write:
        out.line(erd.mermaid().rstrip("\n"))
        return 0
    target = checkout_root() / "docs" / "schema.md"
    changed = erd.replace_block(target)
    out.ok(f"{'updated' if changed else 'unchanged'} {target}")
    return 0


def _show_sessions(settings: Settings, out: Console) -> int:
    """Say who else is connected to the dev database; how many."""
    from bot_persistence.devdb import snapshots

    sessions = snapshots.other_sessions(settings)
    if sessions:
        out.line(f"{len(sessions)} other session(s) are connected to {settings.database!r}:")
        for session in sessions:
            out.line(f"  {session.describe()}")
    return len(sessions)


def cmd_snapshot_save(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Save the dev database as snapshot NAME (a server-side copy)."""
    from bot_persistence.devdb import guards, snapshots

    others = _show_sessions(settings, out)
    if others:
        guards.confirm(f"End them to copy {settings.database!r}?", yes=args.yes, stdin=args.stdin)
    snap = snapshots.save(settings, args.name, end_sessions=bool(others))
    out.ok(f"saved snapshot {snap.name} of {settings.database!r} ({snap.size})")
    return 0


def cmd_snapshot_restore(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Replace the dev database with snapshot NAME (guarded; the snapshot is kept)."""
    from bot_persistence.devdb import guards, snapshots

    guards.guard_destructive(settings, action=f"restore snapshot {args.name}", force=args.force)
    others = _show_sessions(settings, out)
    ending = f", ending those {others} session(s)" if others else ""
    guards.confirm(
        f"Replace database {settings.database!r} with snapshot {args.name!r}{ending}?",
        yes=args.yes,
        stdin=args.stdin,
    )
    snap = snapshots.restore(settings, args.name, end_sessions=bool(others))
    out.ok(f"restored {settings.database!r} from snapshot {snap.name}")
    return 0


def cmd_snapshot_list(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """List the dev database's snapshots, oldest first (--json for machines)."""
    from bot_persistence.devdb import snapshots

    found = snapshots.list_snapshots(settings)
    if args.json:
        out.json([snap.as_dict() for snap in found])
        return 0
    if not found:
        out.line(
            f"no snapshots of {settings.database!r}; save one with `bot-db snapshot save NAME`"
        )
    for snap in found:
        created = snap.created.strftime("%Y-%m-%d %H:%M UTC") if snap.created else "unknown"
        out.line(f"{snap.name:<32} {created:<21} {snap.size:>9}")
    return 0


def cmd_snapshot_delete(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Delete snapshot NAME (guarded)."""
    from bot_persistence.devdb import guards, snapshots

    guards.guard_destructive(settings, action=f"delete snapshot {args.name}", force=args.force)
    guards.confirm(f"Delete snapshot {args.name!r}?", yes=args.yes, stdin=args.stdin)
    snapshots.delete(settings, args.name)
    out.ok(f"deleted snapshot {args.name}")
    return 0
