"""What every ``bot-db`` subcommand shares: the handler's shape and a few helpers.

Each command takes the parsed arguments, the settings and a
:class:`~bot_persistence.cli.output.Console`, and returns the exit code; the
first line of its docstring is the command's help text (``_parser`` reads it).
Failures are raised as our typed errors and printed by ``_main``. ``args.branch``
is the checkout's git branch and its database when branch databases apply
(``settings`` then name that database), else ``None``. A command that reports
state also answers ``--json``: it writes its lines for people as usual (the
console drops them in JSON mode) and one document at the end.

The commands live by job: ``_server_commands`` (the server and the URL),
``_schema_commands`` (migrations, seeds, reset), ``_snapshot_commands`` and
``_branch_commands``. The work's modules are imported inside the commands that
use them: ``check``, ``status`` and ``url`` start in a fraction of the time it
takes to load Alembic, the ORM models and the seed schemas, which only
``migrate``, ``revision``, ``seed``, ``roundtrip``, ``erd``, ``smoke`` and a cold
``up`` need. This module therefore imports nothing heavy.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot_persistence.cli.output import Console
from bot_persistence.settings import Settings

if TYPE_CHECKING:
    from bot_persistence.devdb.branches import BranchTarget

__all__ = ["Handler", "check_ours", "report_json", "require_usable", "server_settings"]

Handler = Callable[[argparse.Namespace, Settings, Console], int]


def report_json(args: argparse.Namespace, out: Console, payload: object) -> None:
    """Write ``payload`` as the command's JSON document when ``--json`` was given."""
    if getattr(args, "json", False):
        out.json(payload)


def server_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings the server is started and stopped with: as configured, whichever
    branch's database the command works on (``settings`` name that one)."""
    branch: BranchTarget | None = args.branch
    return branch.base if branch is not None else settings


def check_ours(args: argparse.Namespace, settings: Settings) -> None:
    """Refuse to read or write a server on the configured port that is not this checkout's."""
    from bot_persistence.errors import BackendUnavailableError
    from bot_persistence.provision import select_backend

    try:
        backend, _ = select_backend(server_settings(args, settings), getattr(args, "backend", None))
    except BackendUnavailableError:
        return  # no backend of ours here, so no server of ours to mistake for another
    backend.ensure_ours()


def require_usable(args: argparse.Namespace, settings: Settings, *, need_head: bool = True) -> None:
    """Raise at once, as one line, what keeps the database from being used (no retrying)."""
    from bot_persistence.devdb import health
    from bot_persistence.errors import SchemaNotAtHeadError

    check_ours(args, settings)
    error = health.probe(settings).error
    if error is not None and (need_head or not isinstance(error, SchemaNotAtHeadError)):
        raise error
