"""The ``bot-db`` argument parser, built from two tables: shared options and commands.

A command names the shared options it takes (``--backend``, ``--yes`` ...)
from :data:`SHARED` and adds its own in a small function; the global options
(``-v``, ``--debug``, ``--json``) are added to the top parser and to every
subcommand, so ``bot-db status -v`` works as well as ``bot-db -v status``.
Adding a command is one :class:`Command` entry in :data:`COMMANDS`.
docs-check, the command catalogue and shell completion read the result.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot_persistence.cli._branch_commands import (
    cmd_branch_list,
    cmd_branch_prune,
    cmd_branch_reset,
)
from bot_persistence.cli._meta import SHELLS, cmd_completion, cmd_help
from bot_persistence.cli._rehearsal_commands import cmd_rehearse, rehearse_arguments
from bot_persistence.cli._schema_commands import (
    cmd_deploy,
    cmd_downgrade,
    cmd_erd,
    cmd_grants,
    cmd_migrate,
    cmd_migrations,
    cmd_reset,
    cmd_revision,
    cmd_roundtrip,
    cmd_seed,
)
from bot_persistence.cli._server_commands import (
    cmd_check,
    cmd_down,
    cmd_shell,
    cmd_smoke,
    cmd_status,
    cmd_up,
    cmd_url,
)
from bot_persistence.cli._snapshot_commands import (
    cmd_snapshot_delete,
    cmd_snapshot_list,
    cmd_snapshot_restore,
    cmd_snapshot_save,
)
from bot_persistence.provision.binaries import DEFAULT_MAJOR

__all__ = ["COMMANDS", "GLOBAL", "GROUPS", "SHARED", "Command", "Option", "build_parser"]


@dataclasses.dataclass(frozen=True)
class Option:
    """One ``add_argument`` call, kept as data so many commands can share it."""

    flags: tuple[str, ...]
    settings: Mapping[str, Any]

    def add_to(self, parser: argparse.ArgumentParser, **override: Any) -> None:
        parser.add_argument(*self.flags, **{**self.settings, **override})


def _flag(*flags: str, help: str) -> Option:
    return Option(flags, {"action": "store_true", "help": help})


#: Options accepted before or after any subcommand (`bot-db --json status`,
#: `bot-db status --json`). Under ``--json`` every command prints exactly one
#: JSON document, a failure too (``{"ok": false, "error": {...}}``).
GLOBAL: tuple[Option, ...] = (
    _flag("-v", "--verbose", help="log each step's detail"),
    _flag("--debug", help="show tracebacks for errors"),
    _flag("--json", help="print one JSON document for machines instead of lines for people"),
)

#: Options several commands take, by the name a :class:`Command` lists them under.
SHARED: Mapping[str, Option] = {
    "backend": Option(
        ("--backend",),
        {
            "choices": ["auto", "embedded", "docker", "compose", "external"],
            "help": "where PostgreSQL comes from (default: BOT_DB_BACKEND, else auto)",
        },
    ),
    "yes": _flag("--yes", help="do not ask for confirmation"),
    "force": _flag("--force", help="allow a non-local host or production"),
    "name": Option(("name",), {"metavar": "NAME", "help": "the snapshot's name"}),
}

Arguments = Callable[[argparse.ArgumentParser], None]


@dataclasses.dataclass(frozen=True)
class Command:
    """A subcommand: its handler (whose docstring is the help), shared options, own options.

    ``handler`` is a :data:`Handler`, or for ``help`` and ``completion`` (which
    need the parser, not settings) a meta handler; ``group`` puts the command
    under a parent such as ``snapshot``.
    """

    name: str
    handler: Callable[..., int]
    shared: tuple[str, ...] = ()
    arguments: Arguments | None = None
    meta: bool = False
    group: str | None = None


def _up(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--seed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="apply seeds (default: only into an empty database)",
    )
    _seed_force(sub)


def _seed(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--scale",
        type=int,
        metavar="N",
        help="instead of seeds/, generated data the size of a real bot's: N x 1,000 users, "
        "guilds and playlists, N x 100,000 playlist tracks (seeds/ rows are kept)",
    )
    sub.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="with --scale: which generated data set (default 0; the same N and S, the same rows)",
    )
    _seed_force(sub)


def _seed_force(sub: argparse.ArgumentParser) -> None:
    # Not the shared --force: seeds never reach production, whatever is given.
    sub.add_argument(
        "--force", action="store_true", help="seed a non-local development host (never production)"
    )


def _deploy(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--sql",
        nargs="?",
        const="-",
        metavar="FILE",
        help="write the SQL for review (to FILE, or standard output) instead of running it",
    )


def _grants(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("role", metavar="ROLE", help="the runtime role the bot connects as")
    sub.add_argument(
        "--apply", action="store_true", help="run the statements as the owner (asks first)"
    )


def _down(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--purge", action="store_true", help="delete the data too (guarded)")


def _url(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--driver", action="store_true", help="SQLAlchemy form (postgresql+psycopg://)"
    )


def _migrate(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--to", default="head", metavar="REV", help="target revision")
    sub.add_argument(
        "--sql",
        action="store_true",
        help="print the SQL the migration would run, without connecting (offline mode)",
    )


def _downgrade(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("revision", metavar="REV", help="target: a revision id, -1 or base")


def _revision(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("-m", "--message", required=True, help="what the migration does")
    sub.add_argument("--empty", action="store_true", help="no autogenerate: an empty script")


def _roundtrip(sub: argparse.ArgumentParser) -> None:
    where = sub.add_mutually_exclusive_group()
    where.add_argument(
        "--pg",
        type=int,
        metavar="MAJOR",
        help=f"a throw-away PostgreSQL MAJOR (default {DEFAULT_MAJOR}; DATABASE_URL's if set)",
    )
    where.add_argument(
        "--url", metavar="URL", help="run on this server, in a scratch database of its own"
    )
    sub.add_argument(
        "--no-lint", action="store_true", help="skip the squawk lint of each revision's SQL"
    )
    sub.add_argument(
        "--container",
        action="store_true",
        help="a container of MAJOR through testcontainers where a Docker engine answers "
        "(pulled if absent); local binaries only where none can serve it, saying so",
    )


def _reset(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--snapshot",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="save a snapshot first, so the reset can be undone (default: yes)",
    )


def _shell(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("psql_args", nargs=argparse.REMAINDER, help="passed on to psql")


def _erd(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--write", action="store_true", help="write the diagram into docs/schema.md")


def _help(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("topic", nargs="*", metavar="COMMAND", help="the command to explain")


def _completion(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("shell", choices=SHELLS, help="the shell to complete in")


#: Parent commands that only group others (``bot-db snapshot save``): name -> help.
GROUPS: Mapping[str, str] = {
    "snapshot": "save, restore, list and delete copies of the dev database",
    "branch": "list, prune and reset the databases of git branches",
}

#: Every subcommand, in the order ``bot-db --help`` lists them.
COMMANDS: tuple[Command, ...] = (
    Command("up", cmd_up, ("backend",), _up),
    Command("down", cmd_down, ("backend", "yes", "force"), _down),
    Command("status", cmd_status, ("backend",)),
    Command("check", cmd_check, ()),
    Command("url", cmd_url, (), _url),
    Command("migrate", cmd_migrate, (), _migrate),
    Command("migrations", cmd_migrations, ()),
    Command("downgrade", cmd_downgrade, ("yes", "force"), _downgrade),
    Command("revision", cmd_revision, (), _revision),
    Command("seed", cmd_seed, (), _seed),
    Command("deploy", cmd_deploy, (), _deploy),
    Command("grants", cmd_grants, ("yes", "force"), _grants),
    Command("roundtrip", cmd_roundtrip, (), _roundtrip),
    Command("rehearse", cmd_rehearse, (), rehearse_arguments),
    Command("reset", cmd_reset, ("backend", "yes", "force"), _reset),
    Command("save", cmd_snapshot_save, ("name", "yes", "force"), group="snapshot"),
    Command("restore", cmd_snapshot_restore, ("name", "yes", "force"), group="snapshot"),
    Command("list", cmd_snapshot_list, (), group="snapshot"),
    Command("delete", cmd_snapshot_delete, ("name", "yes", "force"), group="snapshot"),
    Command("list", cmd_branch_list, (), group="branch"),
    Command("prune", cmd_branch_prune, ("yes", "force"), group="branch"),
    Command("reset", cmd_branch_reset, ("yes", "force", "backend"), group="branch"),
    Command("smoke", cmd_smoke, ()),
    Command("shell", cmd_shell, ("backend",), _shell),
    Command("erd", cmd_erd, (), _erd),
    Command("help", cmd_help, (), _help, meta=True),
    Command("completion", cmd_completion, (), _completion, meta=True),
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bot-persistence")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class _VersionAction(argparse._VersionAction):
    """``--version``, its number looked up only when asked.

    importlib.metadata costs about 40 ms to import: paid by every command
    when the parser was built with the number in it, now by ``--version`` alone.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        self.version = f"%(prog)s {_version()}"
        super().__call__(parser, namespace, values, option_string)


def _add_global(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On subcommands the default is SUPPRESS, so an option not repeated there
    # keeps what the top-level parser set instead of resetting it to False.
    for option in GLOBAL:
        option.add_to(parser, default=False if top else argparse.SUPPRESS)


def _first_line(handler: Callable[..., int]) -> str:
    return (handler.__doc__ or "").strip().splitlines()[0]


def build_parser() -> argparse.ArgumentParser:
    """The ``bot-db`` argument parser; docs-check reads its subcommands and options."""
    parser = argparse.ArgumentParser(
        prog="bot-db",
        description="The bot's development PostgreSQL: up, migrate, seed, check, reset.",
    )
    parser.add_argument("--version", action=_VersionAction)
    _add_global(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for command in COMMANDS:
        where = commands
        if command.group is not None:
            if command.group not in groups:
                parent = commands.add_parser(
                    command.group, help=GROUPS[command.group], description=GROUPS[command.group]
                )
                _add_global(parent, top=False)
                groups[command.group] = parent.add_subparsers(
                    dest=f"{command.group}_command", metavar="ACTION", required=True
                )
            where = groups[command.group]
        doc = _first_line(command.handler)
        sub = where.add_parser(command.name, help=doc, description=doc)
        sub.set_defaults(handler=command.handler, meta=command.meta)
        for name in command.shared:
            SHARED[name].add_to(sub)
        if command.arguments is not None:
            command.arguments(sub)
        _add_global(sub, top=False)
    return parser
