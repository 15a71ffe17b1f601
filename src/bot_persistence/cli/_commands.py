"""The ``bot-db`` subcommands: one small function each, the work done elsewhere.

Each takes the parsed arguments, the settings and a
:class:`~bot_persistence.cli.output.Console`, and returns the exit code; the
first line of its docstring is the command's help text (``_parser`` reads it).
Failures are raised as our typed errors and printed by ``_main``. ``args.branch``
is the checkout's git branch and its database when branch databases apply
(``settings`` then name that database), else ``None``. A command that reports
state also answers ``--json``: it writes its lines for people as usual (the
console drops them in JSON mode) and one document at the end.

The work's modules are imported inside the commands that use them: ``check``,
``status`` and ``url`` start in a fraction of the time it takes to load
Alembic, the ORM models and the seed schemas, which only ``migrate``,
``revision``, ``seed``, ``roundtrip``, ``erd``, ``smoke`` and a cold ``up`` need.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bot_persistence.cli.output import Console
from bot_persistence.settings import Settings

if TYPE_CHECKING:
    from bot_persistence.devdb.branches import BranchTarget
    from bot_persistence.migrations.roundtrip import CheckResult

Handler = Callable[[argparse.Namespace, Settings, Console], int]


def _report(args: argparse.Namespace, out: Console, payload: object) -> None:
    """Write ``payload`` as the command's JSON document when ``--json`` was given."""
    if getattr(args, "json", False):
        out.json(payload)


def server_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings the server is started and stopped with: as configured, whichever
    branch's database the command works on (``settings`` name that one)."""
    branch: BranchTarget | None = args.branch
    return branch.base if branch is not None else settings


def _ours(args: argparse.Namespace, settings: Settings) -> None:
    """Refuse to read or write a server on the configured port that is not this checkout's."""
    from bot_persistence.errors import BackendUnavailableError
    from bot_persistence.provision import select_backend

    try:
        backend, _ = select_backend(server_settings(args, settings), getattr(args, "backend", None))
    except BackendUnavailableError:
        return  # no backend of ours here, so no server of ours to mistake for another
    backend.ensure_ours()


def _usable(args: argparse.Namespace, settings: Settings, *, need_head: bool = True) -> None:
    """Raise at once, as one line, what keeps the database from being used (no retrying)."""
    from bot_persistence.devdb import health
    from bot_persistence.errors import SchemaNotAtHeadError

    _ours(args, settings)
    error = health.probe(settings).error
    if error is not None and (need_head or not isinstance(error, SchemaNotAtHeadError)):
        raise error


def cmd_up(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Start the dev database: server, migrations, seeds, probe."""
    from bot_persistence import devdb

    report = devdb.up(
        settings,
        backend=args.backend,
        seed=args.seed,
        progress=out.ok,
        step=out.step,
        branch=args.branch,
        force=args.force,
    )
    _report(
        args,
        out,
        {
            "backend": report.backend,
            "reason": report.reason,
            "server": {"created": report.server.created, "started": report.server.started},
            "migration": {"before": report.migration.before, "after": report.migration.after},
            "seeds": report.seeds.counts if report.seeds else None,
            "health": report.health.as_dict(),
            "elapsed": round(report.elapsed, 3),
            "url": report.url,
        },
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
    said = backend.down(purge=args.purge)
    _report(args, out, {"backend": backend.name, "purged": args.purge, "result": said})
    out.ok(said)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Show the server, the schema revision and row counts (--json for machines)."""
    from bot_persistence import devdb
    from bot_persistence.devdb import branch_databases, health
    from bot_persistence.provision import select_backend

    branch: BranchTarget | None = args.branch
    backend, reason = select_backend(server_settings(args, settings), args.backend)
    server = backend.status()
    backend.ensure_ours()
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
    revision = report.revision or ("base" if report.database_present else "unknown")
    out.field("revision", f"{revision} (head {report.head})")
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

    _ours(args, settings)
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
    # percent-encoded without --driver: libpq reads it back for any password
    url_text = (
        settings.url.render_as_string(hide_password=False) if args.driver else settings.plain_url
    )
    _report(args, out, {"url": url_text})
    out.line(url_text)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Migrate to head, or to --to REV, under the migration lock (--sql prints it instead)."""
    from bot_persistence import migrations

    if args.sql:
        sql_text = migrations.upgrade_sql(settings, args.to)
        _report(args, out, {"target": args.to, "sql": sql_text})
        out.line(sql_text.rstrip("\n"))
        return 0
    _ours(args, settings)
    with out.step(f"migrate   to {args.to}"):
        result = migrations.upgrade(settings, args.to)
    _report(args, out, {"before": result.before, "after": result.after, "changed": result.changed})
    if result.changed:
        out.ok(f"migrated {result.before or 'base'} -> {result.after}")
    else:
        out.ok(f"already at {result.after or 'base'}")
    return 0


def cmd_migrations(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """List the migrations, oldest first, as applied or pending (--json for machines)."""
    from bot_persistence import migrations

    states = migrations.migration_states(settings)
    _report(args, out, [state.as_dict() for state in states])
    for state in states:
        mark = out.paint("[x]", "green") if state.applied else "[ ]"
        notes = [note for note, on in (("current", state.current), ("head", state.head)) if on]
        suffix = out.paint(f"  ({', '.join(notes)})", "dim") if notes else ""
        out.line(f"{mark} {state.revision}  {state.message}{suffix}")
    pending = sum(not state.applied for state in states)
    out.line(f"{len(states) - pending} applied, {pending} pending")
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
    _ours(args, settings)
    with out.step(f"downgrade to {args.revision}"):
        result = migrations.downgrade(settings, args.revision)
    _report(args, out, {"before": result.before, "after": result.after, "changed": result.changed})
    out.ok(f"downgraded {result.before or 'base'} -> {result.after or 'base'}")
    return 0


def cmd_revision(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Write a new migration, autogenerated from the models (review it before committing)."""
    from bot_persistence import migrations

    path = migrations.new_revision(settings, args.message, autogenerate=not args.empty)
    _report(args, out, {"path": str(path)})
    out.ok(f"wrote {path}")
    out.line(
        out.paint("Review it, then run `bot-db migrate` and `nox -s migrate-roundtrip`.", "dim")
    )
    return 0


def cmd_seed(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Apply seeds/ again (an idempotent upsert; your other rows are kept)."""
    from bot_persistence.devdb import guards, health, seeding

    guards.guard_seeding(settings, force=args.force)  # refuse before connecting anywhere
    _ours(args, settings)
    health.require_known_revision(settings)
    with out.step("seed      applying seeds/"):
        report = seeding.apply_seeds(settings, force=args.force)
    _report(args, out, {"counts": report.counts})
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
        taken, pruned = snapshots.save_before_reset(settings)
        if taken is not None:
            out.ok(f"snapshot  {taken.name} ({taken.size}): `bot-db snapshot restore {taken.name}`")
        if pruned:
            out.ok(f"snapshot  removed older automatic ones: {', '.join(pruned)}")
    report = devdb.reset(settings, backend, force=args.force, step=out.step)
    if args.branch is not None:
        branch_databases.ensure(args.branch)  # the new database: say whose it is, used now
    _report(
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
        _report(
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
        given = Settings.from_values(database_url=args.url, backend="external")
        return run(given, f"{given.masked_url} (a scratch database of its own on it)")
    if args.pg is None and settings.url_from_environment:
        return run(settings, f"DATABASE_URL {settings.masked_url} (a scratch database of its own)")
    major = args.pg or DEFAULT_MAJOR
    with contextlib.ExitStack() as stack:
        with out.step(f"server    starting a throw-away PostgreSQL {major}"):
            scratch = stack.enter_context(
                throwaway_server(
                    major, image=settings.postgres_image, prefer_container=args.container
                )
            )
        return run(scratch.settings, scratch.source)


def cmd_smoke(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Run the bot's flows end to end against the database, leaving it as it was."""
    import asyncio

    from bot_persistence.devdb import smoke  # the async stack loads only for this command
    from bot_persistence.errors import BotPersistenceError, SmokeFailedError

    try:
        try:
            _usable(args, settings)
        except BotPersistenceError as exc:
            raise SmokeFailedError("connect", str(exc)) from None
        asyncio.run(smoke.run(settings, progress=out.ok))
    except SmokeFailedError as exc:
        _report(args, out, {"ok": False, "error": str(exc)})
        out.fail(str(exc))
        return exc.exit_code
    _report(args, out, {"ok": True})
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

    _usable(args, settings, need_head=False)
    target = settings.url.set(drivername="postgresql", password=None)
    env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    env.pop("PGPASSWORD", None)
    rc_file = psqlrc()
    if rc_file.is_file():
        env["PSQLRC"] = str(rc_file)
    extra = [arg for arg in args.psql_args if arg != "--"]
    command = [_psql(), target.render_as_string(hide_password=False), *extra]
    with _password_for_psql(settings.password, env) as keep_open:
        return subprocess.run(command, env=env, pass_fds=keep_open, check=False).returncode


@contextlib.contextmanager
def _password_for_psql(password: str, env: dict[str, str]) -> Iterator[tuple[int, ...]]:
    """Hand psql the password without an environment variable or a file on disk.

    On Linux the password goes into an anonymous in-memory file (memfd) that
    psql reads as its password file through ``/dev/fd/N``: not in
    ``/proc/PID/environ``, not on any disk. Elsewhere ``PGPASSWORD`` is the
    fallback (macOS and Windows have no memfd).
    """
    if not hasattr(os, "memfd_create"):
        env["PGPASSWORD"] = password
        yield ()
        return
    escaped = password.replace("\\", "\\\\").replace(":", "\\:")
    handle = os.memfd_create("bot-db-pgpass", 0)
    try:
        os.fchmod(handle, 0o600)  # libpq ignores a password file others may read
        os.write(handle, f"*:*:*:*:{escaped}\n".encode())
        env["PGPASSFILE"] = f"/dev/fd/{handle}"
        yield (handle,)
    finally:
        os.close(handle)


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

    _ours(args, settings)
    others = _show_sessions(settings, out)
    if others:
        guards.confirm(f"End them to copy {settings.database!r}?", yes=args.yes, stdin=args.stdin)
    snap = snapshots.save(settings, args.name, end_sessions=bool(others))
    _report(args, out, snap.as_dict())
    out.ok(f"saved snapshot {snap.name} of {settings.database!r} ({snap.size})")
    return 0


def cmd_snapshot_restore(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """Replace the dev database with snapshot NAME (guarded; the snapshot is kept)."""
    from bot_persistence.devdb import guards, snapshots

    guards.guard_destructive(settings, action=f"restore snapshot {args.name}", force=args.force)
    _ours(args, settings)
    others = _show_sessions(settings, out)
    ending = f", ending those {others} session(s)" if others else ""
    guards.confirm(
        f"Replace database {settings.database!r} with snapshot {args.name!r}{ending}?",
        yes=args.yes,
        stdin=args.stdin,
    )
    snap = snapshots.restore(settings, args.name, end_sessions=bool(others))
    _report(args, out, {"database": settings.database, "restored": snap.as_dict()})
    out.ok(f"restored {settings.database!r} from snapshot {snap.name}")
    return 0


def cmd_snapshot_list(args: argparse.Namespace, settings: Settings, out: Console) -> int:
    """List the dev database's snapshots, oldest first (--json for machines)."""
    from bot_persistence.devdb import snapshots

    _ours(args, settings)
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
    _ours(args, settings)
    snapshots.delete(settings, args.name)
    _report(args, out, {"deleted": args.name})
    out.ok(f"deleted snapshot {args.name}")
    return 0
