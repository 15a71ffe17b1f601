"""The edge of ``bot-db``: parse, read settings, run one command, turn errors into a line.

Expected failures are our typed errors, printed here as one line with exit 2
(usage, configuration, refused) or 1 (a failed check); ``--debug`` shows the
traceback instead. Nothing below this module prints an error or exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot_persistence.cli._commands import Handler
from bot_persistence.cli._parser import build_parser
from bot_persistence.cli.output import Console
from bot_persistence.connection import first_line
from bot_persistence.devdb import branch_databases, branches
from bot_persistence.errors import BotPersistenceError, ConfigurationError
from bot_persistence.settings import Settings

__all__ = ["main", "run"]

#: Commands that use no dev database, so need not ask git which branch is out.
_NO_DATABASE = frozenset({"erd", "roundtrip"})
#: Commands after which the branch's database counts as used (``up`` and the resets
#: mark it themselves; ``status``, ``check`` and ``url`` only look).
_USES_DATABASE = frozenset({"migrate", "downgrade", "revision", "seed", "shell", "smoke"})


def _settings_error(exc: ValidationError) -> ConfigurationError:
    first = exc.errors()[0]
    name = str(first["loc"][0]).upper() if first["loc"] else "a setting"
    return ConfigurationError(f"{name}: {first['msg']}; fix it in .env or the environment")


def main(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
    console: Console | None = None,
) -> int:
    """Run ``bot-db`` with ``argv``; returns the exit code instead of exiting.

    ``console`` replaces ``stdout``/``stderr`` for a caller that wants what the
    command reported as data (:attr:`Console.finished`, :attr:`Console.failures`).
    """
    out = console if console is not None else Console(stdout, err=stderr)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and getattr(args, "command", None) != "shell":
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if extra:  # `bot-db shell -c 'SELECT 1'`: options psql knows and we do not
            args.psql_args = [*extra, *args.psql_args]
    except SystemExit as exc:  # argparse printed usage or help itself
        return int(exc.code or 0)
    args.stdin = stdin
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if settings is None:
            try:
                settings = Settings()
            except ValidationError as exc:
                raise _settings_error(exc) from None
        # Every dev-database command works on the current git branch's database:
        # resolved once here (git only, no server), so commands just see settings.
        args.branch = None
        external = getattr(args, "backend", None) == "external"  # --backend: not our server
        if args.command not in _NO_DATABASE and not external:
            args.branch = branches.resolve(settings)
            if args.branch is not None:
                settings = args.branch.settings
        handler: Handler = args.handler
        code = handler(args, settings, out)
        if code == 0 and args.branch is not None and args.command in _USES_DATABASE:
            with contextlib.suppress(BotPersistenceError):  # bookkeeping never fails a command
                branch_databases.touch(args.branch)
        return code
    except BotPersistenceError as exc:
        if args.debug:
            raise
        out.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    except SQLAlchemyError as exc:
        # Not one of ours: say what the server said, in one line, without the URL.
        if args.debug:
            raise
        out.error(
            f"unexpected database error: {first_line(exc)}; run with --debug for the traceback"
        )
        return 1


def run() -> None:
    """Console-script entry point."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # `bot-db status | head`: the reader left; that is not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 141
    sys.exit(code)
