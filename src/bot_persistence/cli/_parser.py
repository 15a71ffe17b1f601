"""The ``bot-db`` argument parser; docs-check and the command catalogue read it."""

from __future__ import annotations

import argparse

from bot_persistence.cli._branch_commands import (
    cmd_branch_list,
    cmd_branch_prune,
    cmd_branch_reset,
)
from bot_persistence.cli._commands import (
    Handler,
    cmd_check,
    cmd_deploy,
    cmd_down,
    cmd_downgrade,
    cmd_erd,
    cmd_migrate,
    cmd_reset,
    cmd_revision,
    cmd_roundtrip,
    cmd_seed,
    cmd_shell,
    cmd_smoke,
    cmd_snapshot_delete,
    cmd_snapshot_list,
    cmd_snapshot_restore,
    cmd_snapshot_save,
    cmd_status,
    cmd_up,
    cmd_url,
)
from bot_persistence.provision.scratch import DEFAULT_MAJOR

__all__ = ["build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The ``bot-db`` argument parser; docs-check reads its subcommands and options."""
    parser = argparse.ArgumentParser(
        prog="bot-db",
        description="The bot's development PostgreSQL: up, migrate, seed, check, reset.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each step's detail")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Handler) -> argparse.ArgumentParser:
        doc = (handler.__doc__ or "").strip().splitlines()[0]
        sub = commands.add_parser(name, help=doc, description=doc)
        sub.set_defaults(handler=handler)
        return sub

    def backend_option(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--backend",
            choices=["auto", "embedded", "docker", "compose", "external"],
            help="where PostgreSQL comes from (default: BOT_DB_BACKEND, else auto)",
        )

    def destructive_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
        sub.add_argument(
            "--force", action="store_true", help="allow a non-local host or production"
        )

    up = add("up", cmd_up)
    backend_option(up)
    up.add_argument(
        "--seed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="apply seeds (default: only into an empty database)",
    )
    up.add_argument(
        "--force", action="store_true", help="seed a non-local development host (never production)"
    )

    down = add("down", cmd_down)
    backend_option(down)
    down.add_argument("--purge", action="store_true", help="delete the data too (guarded)")
    destructive_options(down)

    status = add("status", cmd_status)
    backend_option(status)
    status.add_argument("--json", action="store_true", help="print JSON")

    check = add("check", cmd_check)
    check.add_argument("--json", action="store_true", help="print JSON")

    url = add("url", cmd_url)
    url.add_argument(
        "--driver", action="store_true", help="SQLAlchemy form (postgresql+psycopg://)"
    )

    migrate = add("migrate", cmd_migrate)
    migrate.add_argument("--to", default="head", metavar="REV", help="target revision")

    downgrade = add("downgrade", cmd_downgrade)
    downgrade.add_argument("revision", metavar="REV", help="target: a revision id, -1 or base")
    destructive_options(downgrade)

    revision = add("revision", cmd_revision)
    revision.add_argument("-m", "--message", required=True, help="what the migration does")
    revision.add_argument("--empty", action="store_true", help="no autogenerate: an empty script")

    seed = add("seed", cmd_seed)
    seed.add_argument(
        "--force", action="store_true", help="seed a non-local development host (never production)"
    )

    deploy = add("deploy", cmd_deploy)
    deploy.add_argument(
        "--sql",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write the SQL for review (to FILE, or standard output) instead of running it",
    )

    check_migrations = add("roundtrip", cmd_roundtrip)
    where = check_migrations.add_mutually_exclusive_group()
    where.add_argument(
        "--pg",
        type=int,
        metavar="MAJOR",
        help=f"a throw-away PostgreSQL MAJOR (default {DEFAULT_MAJOR}; DATABASE_URL's if set)",
    )
    where.add_argument(
        "--url", metavar="URL", help="run on this server, in a scratch database of its own"
    )
    check_migrations.add_argument(
        "--no-lint", action="store_true", help="skip the squawk lint of each revision's SQL"
    )

    reset = add("reset", cmd_reset)
    backend_option(reset)
    destructive_options(reset)
    reset.add_argument(
        "--snapshot",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="save a snapshot first, so the reset can be undone (default: yes)",
    )

    snapshot = commands.add_parser(
        "snapshot",
        help="save, restore, list and delete copies of the dev database",
        description="Copies of the dev database kept on the server (CREATE DATABASE ... TEMPLATE).",
    )
    snapshot_commands = snapshot.add_subparsers(
        dest="snapshot_command", metavar="ACTION", required=True
    )
    for action, handler in (
        ("save", cmd_snapshot_save),
        ("restore", cmd_snapshot_restore),
        ("list", cmd_snapshot_list),
        ("delete", cmd_snapshot_delete),
    ):
        doc = (handler.__doc__ or "").strip().splitlines()[0]
        sub = snapshot_commands.add_parser(action, help=doc, description=doc)
        sub.set_defaults(handler=handler)
        if action == "list":
            sub.add_argument("--json", action="store_true", help="print JSON")
            continue
        sub.add_argument("name", metavar="NAME", help="the snapshot's name")
        if action == "save":
            sub.add_argument("--yes", action="store_true", help="end other sessions without asking")
        else:
            destructive_options(sub)

    branch = commands.add_parser(
        "branch",
        help="list, prune and reset the databases of git branches",
        description="Each git branch's own dev database, first copied from its parent's.",
    )
    branch_commands = branch.add_subparsers(dest="branch_command", metavar="ACTION", required=True)
    for action, handler in (
        ("list", cmd_branch_list),
        ("prune", cmd_branch_prune),
        ("reset", cmd_branch_reset),
    ):
        doc = (handler.__doc__ or "").strip().splitlines()[0]
        sub = branch_commands.add_parser(action, help=doc, description=doc)
        sub.set_defaults(handler=handler)
        if action == "list":
            sub.add_argument("--json", action="store_true", help="print JSON")
            continue
        destructive_options(sub)
        if action == "reset":
            backend_option(sub)

    add("smoke", cmd_smoke)

    shell = add("shell", cmd_shell)
    shell.add_argument("psql_args", nargs=argparse.REMAINDER, help="passed on to psql")

    erd_command = add("erd", cmd_erd)
    erd_command.add_argument(
        "--write", action="store_true", help="write the diagram into docs/schema.md"
    )
    return parser
