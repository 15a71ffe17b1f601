"""What every ``bot-db`` subcommand shares: the handler's shape and a few helpers.

Each command takes the parsed arguments, the command's
:class:`~bot_persistence.devdb.target.Target` (the server, the database, the
branch, and the connections it has opened, built once by ``_main``) and a
:class:`~bot_persistence.cli.output.Console`, and returns the exit code; the
first line of its docstring is the command's help text (``_parser`` reads it).
Failures are raised as our typed errors and printed by ``_main``. A step that
needs a connection asks the target; ``target.branch`` is the checkout's git
branch and its database when branch databases apply, else ``None``, and
``target.settings`` name the database the command works on. A command that reports
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

if TYPE_CHECKING:
    from bot_persistence.devdb.target import Target

__all__ = ["Handler", "check_ours", "report_json", "require_usable"]

Handler = Callable[[argparse.Namespace, "Target", Console], int]


def report_json(args: argparse.Namespace, out: Console, payload: object) -> None:
    """Write ``payload`` as the command's JSON document when ``--json`` was given."""
    if getattr(args, "json", False):
        out.json(payload)


def check_ours(args: argparse.Namespace, target: Target) -> None:
    """Refuse to read or write a server on the configured port that is not this checkout's."""
    from bot_persistence.errors import BackendUnavailableError
    from bot_persistence.provision import select_backend

    try:
        backend, _ = select_backend(target.server, getattr(args, "backend", None))
    except BackendUnavailableError:
        return  # no backend of ours here, so no server of ours to mistake for another
    backend.ensure_ours()


def require_usable(args: argparse.Namespace, target: Target, *, need_head: bool = True) -> None:
    """Raise at once, as one line, what keeps the database from being used (no retrying)."""
    from bot_persistence.devdb import health
    from bot_persistence.errors import SchemaNotAtHeadError

    check_ours(args, target)
    error = health.probe(target).error
    if error is not None and (need_head or not isinstance(error, SchemaNotAtHeadError)):
        raise error
