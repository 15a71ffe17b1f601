"""The edge of ``bot-db``: parse, read settings, run one command, turn errors into a line.

Expected failures are our typed errors, printed here as one line with exit 2
(usage, configuration, refused) or 1 (a failed check); ``--debug`` shows the
traceback instead. Nothing below this module prints an error or exits.

Ctrl-C and SIGTERM end a command the same way: the work under way unwinds
(its ``finally`` blocks remove what they made), then one line and exit 130 or
143. Every error line passes through :func:`redact`, a last guard that no
password reaches the terminal, whatever a message below us quoted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot_persistence.cli._commands import Handler
from bot_persistence.cli._meta import MetaHandler
from bot_persistence.cli._parser import build_parser
from bot_persistence.cli._signals import (
    INTERRUPTED,
    TERMINATED,
    Terminated,
    install,
    signal_behind,
)
from bot_persistence.cli.output import Console
from bot_persistence.connection import first_line, translate_call_error
from bot_persistence.devdb import branch_databases
from bot_persistence.devdb.target import Target
from bot_persistence.errors import BotPersistenceError, ConfigurationError, ConnectionLostError
from bot_persistence.project import env_file
from bot_persistence.settings import Settings

__all__ = ["main", "redact", "run"]

#: Secrets shorter than this are not searched for: they would blank ordinary words.
_MIN_SECRET = 4


def _secrets(settings: Settings | None) -> list[str]:
    """Every form of the password a message could quote, including a malformed URL's pieces."""
    if settings is None:
        return []
    found = [settings.postgres_password.get_secret_value()]
    if settings.database_url is not None:
        raw = settings.database_url.get_secret_value()
        userinfo = raw.split("://", 1)[-1].rpartition("@")[0]
        password = userinfo.partition(":")[2]
        found += [password, *password.split("@"), userinfo]
    with contextlib.suppress(BotPersistenceError):
        found.append(settings.password)
    return sorted({s for s in found if len(s) >= _MIN_SECRET}, key=len, reverse=True)


def redact(text: str, settings: Settings | None) -> str:
    """``text`` with every form of the configured password replaced by ``***``."""
    for secret in _secrets(settings):
        text = text.replace(secret, "***")
    return text


#: Commands that use no dev database, so need not ask git which branch is out.
_NO_DATABASE = frozenset({"erd", "roundtrip"})
#: Commands after which the branch's database counts as used (``up`` and the resets
#: mark it themselves; ``status``, ``check`` and ``url`` only look).
_USES_DATABASE = frozenset({"migrate", "downgrade", "revision", "seed", "shell", "smoke"})


def _settings_error(exc: ValidationError) -> ConfigurationError:
    first = exc.errors()[0]
    name = str(first["loc"][0]).upper() if first["loc"] else "a setting"
    message = first["msg"].removeprefix("Value error, ")  # pydantic's wrapping of our own text
    return ConfigurationError(f"{name}: {message}; fix it in .env or the environment")


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
    out = console if console is not None else Console(stdout, err=stderr)
    out.json_mode = getattr(args, "json", False)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not (args.verbose or args.debug):
        # The pool logs a traceback when it cannot reset a connection that an
        # interrupt left mid-statement; the connection is discarded anyway, and
        # the one line this command prints says what happened.
        logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)
    try:
        if args.meta:
            meta: MetaHandler = args.handler
            return meta(args, parser, out)
        if settings is None:
            try:
                # The project root's .env, wherever in the checkout bot-db runs.
                settings = Settings(_env_file=env_file())
            except ValidationError as exc:
                raise _settings_error(exc) from None
            except UnicodeDecodeError as exc:
                raise ConfigurationError(
                    f".env is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset "
                    f"{exc.start}); save it as UTF-8"
                ) from None
        # The one object every command works on: built once here (git only, no
        # server), its connections opened by the steps that need them and closed
        # when the command is done.
        external = getattr(args, "backend", None) == "external"  # --backend: not our server
        target = Target.build(settings, branch=args.command not in _NO_DATABASE and not external)
        settings = target.settings
        try:
            handler: Handler = args.handler
            code = handler(args, target, out)
            if code == 0 and target.branch is not None and args.command in _USES_DATABASE:
                with contextlib.suppress(BotPersistenceError):  # bookkeeping never fails it
                    branch_databases.touch(target)
            return code
        finally:
            target.close()
    except BotPersistenceError as exc:
        if args.debug:
            raise
        out.error(redact(str(exc), settings))
        return exc.exit_code
    except (KeyboardInterrupt, Terminated):
        return _interrupted(out, sys.exc_info()[1])
    except SQLAlchemyError as exc:
        # Not one of ours: say what the server said, in one line, without the URL.
        if args.debug:
            raise
        typed = _database_gone(exc, settings) if settings is not None else None
        if typed is not None:
            out.error(redact(str(typed), settings))
            return typed.exit_code
        line = f"unexpected database error: {first_line(exc)}; run with --debug for the traceback"
        out.error(redact(line, settings))
        return 1
    except Exception as exc:
        # An interrupt Python wrapped (a RuntimeError from a class body, an
        # import) is still an interrupt; anything else is a bug: the traceback.
        if signal_behind(exc) is None or args.debug:
            raise
        return _interrupted(out, signal_behind(exc))


def _database_gone(exc: SQLAlchemyError, settings: Settings) -> BotPersistenceError | None:
    """Our typed error when the server refused or dropped the command's connection.

    A command outlives its server when that is stopped or killed part-way: the
    next connect is refused, or the open connection is lost. Either way the
    line names the next step, not "unexpected database error".
    """
    typed = translate_call_error(exc, settings)
    if isinstance(typed, ConnectionLostError):
        return ConnectionLostError(
            f"the connection to the server at {settings.host}:{settings.port} was lost "
            "part-way (the server stopped or restarted); run `bot-db up`, then this "
            "command again"
        )
    return typed


def _interrupted(out: Console, interrupt: BaseException | None) -> int:
    """The one line and the exit code for Ctrl-C (130) or SIGTERM (143)."""
    if isinstance(interrupt, Terminated):
        out.error(TERMINATED)
        return 143
    out.error(INTERRUPTED)
    return 130


def run() -> None:
    """Console-script entry point."""
    install()  # again, for callers that come here directly
    try:
        code = main()
        sys.stdout.flush()
    except (KeyboardInterrupt, Terminated):  # a signal just after the command finished
        code = _interrupted(Console(), sys.exc_info()[1])
    except BrokenPipeError:
        # `bot-db status | head`: the reader left; that is not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        code = 141
    if code in (130, 143):
        # Interrupted: the work under way has unwound already. Exit now, so the
        # interpreter's shutdown cannot turn the handled interrupt into a
        # death by signal, nor a second Ctrl-C into a traceback.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    # The command is done and has said so: an interrupt from here on would only
    # turn its exit code into a death by signal while the interpreter shuts down.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    sys.exit(code)
