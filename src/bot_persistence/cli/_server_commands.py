"""``bot-db up|down|status|check|url|smoke|shell``: the dev server and reaching it.

The conventions every command follows are in :mod:`bot_persistence.cli._commands`.
``check``, ``status``, ``url`` and a warm ``up`` load no Alembic and no ORM, so
their imports stay inside the functions.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot_persistence.cli._commands import check_ours, report_json, require_usable
from bot_persistence.cli.output import Console

if TYPE_CHECKING:
    from bot_persistence.devdb.target import Target

__all__ = ["cmd_check", "cmd_down", "cmd_shell", "cmd_smoke", "cmd_status", "cmd_up", "cmd_url"]


def cmd_up(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Start the dev database: server, migrations, seeds, probe."""
    from bot_persistence import devdb

    report = devdb.up(
        target,
        backend=args.backend,
        seed=args.seed,
        progress=out.ok,
        step=out.step,
        force=args.force,
        warn=out.warn,
    )
    report_json(
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
    if target.branch is not None:
        hint = "This branch's own database; `bot-db url` prints its URL with the password."
    else:
        hint = "Put DATABASE_URL in .env with `bot-db url` (it prints the password)."
    out.line(out.paint(hint, "dim"))
    return 0


def cmd_down(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Stop the dev server, keeping its data (--purge deletes the data)."""
    from bot_persistence.devdb import guards
    from bot_persistence.provision import select_backend

    backend, _ = select_backend(target.server, args.backend)
    if args.purge:
        guards.guard_destructive(
            target.settings, action="delete the database data", force=args.force
        )
        guards.confirm(
            f"Delete all data of the {backend.name} dev database?", yes=args.yes, stdin=args.stdin
        )
    said = backend.down(purge=args.purge)
    report_json(args, out, {"backend": backend.name, "purged": args.purge, "result": said})
    out.ok(said)
    return 0


def cmd_status(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Show the server, the schema revision and row counts (--json for machines)."""
    from bot_persistence import devdb
    from bot_persistence.devdb import branch_databases, health
    from bot_persistence.provision import select_backend

    branch = target.branch
    backend, reason = select_backend(target.server, args.backend)
    server = backend.status()
    backend.ensure_ours()
    report = health.probe(target)
    counts = devdb.table_counts(target) if report.database_present and report.at_head else {}
    # Any connection to the server reads the disk use: the database's own, when it is there.
    on = target.connection() if report.database_present else None
    # Branch databases and snapshots are the dev server's: a server someone else
    # runs (an external DATABASE_URL) has none of ours to report.
    ours = backend.name != "external"
    disk = branch_databases.disk_use(target, on) if report.authenticated and ours else None
    use = health.connection_use(target) if report.database_present else None
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
        return report.exit_code
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
    return report.exit_code


def cmd_check(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Probe the database: reachable, authenticated, present, at head (exit 1 if not)."""
    from bot_persistence.devdb import health

    check_ours(args, target)
    report = health.probe(target)
    if args.json:
        out.json(report.as_dict())
        return report.exit_code
    if report.error is not None:
        out.fail(str(report.error))
        return report.exit_code
    out.ok(
        f"{report.url}: PostgreSQL {report.server_version}, at head {report.head} "
        f"({report.elapsed_ms:.0f} ms)"
    )
    return 0


def cmd_url(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Print the connection URL with its password, to paste into .env or a tool."""
    settings = target.settings
    # percent-encoded without --driver: libpq reads it back for any password
    url_text = (
        settings.parsed_url.render(hide_password=False) if args.driver else settings.plain_url
    )
    report_json(args, out, {"url": url_text})
    out.line(url_text)
    return 0


def cmd_smoke(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Run the bot's flows end to end against the database, leaving it as it was."""
    import asyncio

    from bot_persistence.devdb import smoke  # the async stack loads only for this command
    from bot_persistence.errors import BotPersistenceError, SmokeFailedError

    try:
        try:
            require_usable(args, target)
        except BotPersistenceError as exc:
            raise SmokeFailedError("connect", str(exc), exit_code=exc.exit_code) from None
        target.close()  # the smoke test opens the bot's own pool, as the bot would
        asyncio.run(smoke.run(target.settings, progress=out.ok))
    except SmokeFailedError as exc:
        report_json(args, out, {"ok": False, "error": str(exc)})
        out.fail(str(exc))
        return exc.exit_code
    report_json(args, out, {"ok": True})
    out.ok("smoke test passed; the database is as it was")
    return 0


def _psql() -> str:
    import shutil

    from bot_persistence.provision.binaries import embedded_bin_dir

    found = shutil.which("psql")
    if found:
        return found
    return str(embedded_bin_dir() / "psql")


def cmd_shell(args: argparse.Namespace, target: Target, out: Console) -> int:
    """Open psql on the dev database with the project's .psqlrc (extra args go to psql)."""
    import subprocess

    from bot_persistence.errors import SchemaAheadOfCodeError
    from bot_persistence.project import psqlrc

    try:
        require_usable(args, target, need_head=False)
    except SchemaAheadOfCodeError as exc:
        # The state in which a user most needs to look inside: open it anyway.
        out.warn(f"{exc}; opening psql anyway, to look inside")
    settings = target.settings
    target.close()  # psql's is the session the user works in
    where = settings.parsed_url.libpq(password=False)  # the password goes by a pipe
    env = {**os.environ, "PGCONNECT_TIMEOUT": "5"}
    env.pop("PGPASSWORD", None)
    rc_file = psqlrc()
    if rc_file.is_file():
        env["PSQLRC"] = str(rc_file)
    extra = [arg for arg in args.psql_args if arg != "--"]
    if _runs_a_script(extra):
        # `-c`/`-f`: psql for a script or a pipe: without .psqlrc's banner, timing
        # and display settings, so the output is what the query printed.
        extra = ["-X", *extra]
    command = [_psql(), where, *extra]
    with _password_for_psql(settings.password, env) as keep_open:
        return subprocess.run(command, env=env, pass_fds=keep_open, check=False).returncode


def _runs_a_script(psql_args: list[str]) -> bool:
    """True when psql is given a command or file to run (``-c``, ``-f``, ``-Atc``...)."""
    for arg in psql_args:
        if arg.startswith(("--command", "--file")):
            return True
        if arg.startswith("-") and not arg.startswith("--") and ({"c", "f"} & set(arg[1:])):
            return True
    return False


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
