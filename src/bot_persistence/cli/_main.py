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

import argparse
import contextlib
import io
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

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
from bot_persistence.cli.output import Console, document_only
from bot_persistence.errors import (
    BotPersistenceError,
    ConfigurationError,
    ConnectionLostError,
    SchemaAheadOfCodeError,
)

if TYPE_CHECKING:
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


#: Commands whose output is for a person or another program (psql, a diagram, a
#: script), never a JSON document: ``--json`` with them is refused, as a document.
_NO_JSON = frozenset({"shell", "erd", "help", "completion"})
#: Commands that use no dev database, so need not ask git which branch is out.
_NO_DATABASE = frozenset({"erd", "roundtrip"})
#: Commands after which the branch's database counts as used (``up`` and the resets
#: mark it themselves; ``status``, ``check`` and ``url`` only look).
_USES_DATABASE = frozenset({"migrate", "downgrade", "revision", "seed", "shell", "smoke"})


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
    words = list(sys.argv[1:] if argv is None else argv)
    # `--json` anywhere before a lone `--` (after it, words are psql's).
    wants_json = "--json" in words[: words.index("--")] if "--" in words else "--json" in words
    out = console if console is not None else Console(stdout, err=stderr)
    try:
        with _usage_errors(wants_json) as usage:
            args, extra = parser.parse_known_args(words)
            if extra and getattr(args, "command", None) != "shell":
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            if extra:  # `bot-db shell -c 'SELECT 1'`: options psql knows and we do not
                args.psql_args = [*extra, *args.psql_args]
    except SystemExit as exc:  # argparse printed usage or help itself
        code = int(exc.code or 0)
        if wants_json and code != 0:
            out.json_mode = True
            line = usage.getvalue().strip().splitlines()[-1] if usage.getvalue().strip() else ""
            message = line.partition(": error: ")[2] or line or "bad arguments"
            out.error(message)
            out.error_document("UsageError", f"{message}; see `bot-db help` for the options")
        return code
    args.stdin = stdin
    out.json_mode = bool(getattr(args, "json", False))
    code = _dispatch(args, parser, settings, out)
    if out.json_mode and out.documents == 0:
        # Whatever happened, --json prints one document: a command that reported
        # only lines for people (dropped in JSON mode) still answers.
        if code == 0:
            out.json({"ok": True})
        else:
            message = out.failures[-1] if out.failures else f"exit code {code}"
            out.error_document("CheckFailed", message)
    return code


@contextlib.contextmanager
def _usage_errors(capture: bool) -> Iterator[io.StringIO]:
    """Under ``--json``, argparse's usage text is kept back: one document says what was wrong."""
    kept = io.StringIO()
    if not capture:
        yield kept
        return
    with contextlib.redirect_stderr(kept):
        yield kept


def _dispatch(
    args: argparse.Namespace,
    parser: argparse.ArgumentParser,
    settings: Settings | None,
    out: Console,
) -> int:
    """Read the settings, build the target, run the command; every failure as one line."""
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
        if out.json_mode and args.command in _NO_JSON:
            raise ConfigurationError(
                f"`bot-db {args.command}` prints no JSON document; drop --json"
            )
        if args.meta:
            meta: MetaHandler = args.handler
            return meta(args, parser, out)
        # Loaded only now: --version, help and completion load neither the settings
        # (pydantic) nor, through them, anything that talks to a database.
        from bot_persistence.devdb import branch_databases
        from bot_persistence.devdb.target import Target
        from bot_persistence.project import env_file
        from bot_persistence.settings import Settings

        if settings is None:
            # The project root's .env, wherever in the checkout bot-db runs, and
            # a relative BOT_DB_DATA_DIR (`.devdb`) from that root too: `cd docs
            # && bot-db check` finds the server `bot-db up` started at the root.
            found = env_file()
            settings = Settings(_env_file=found)  # a bad value: InvalidSettingError, one line
            if not settings.data_dir.is_absolute():
                absolute = found.parent / settings.data_dir
                settings = settings.model_copy(update={"data_dir": absolute})
        # The one object every command works on: built once here (git only, no
        # server), its connections opened by the steps that need them and closed
        # when the command is done.
        external = getattr(args, "backend", None) == "external"  # --backend: not our server
        target = Target.build(settings, branch=args.command not in _NO_DATABASE and not external)
        settings = target.settings
        try:
            handler: Handler = args.handler
            with document_only(out):  # --json: Alembic's, ruff's and psql's writes go to stderr
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
        if isinstance(exc, SchemaAheadOfCodeError):
            from bot_persistence.devdb import git  # only here: light commands stay light

            exc = git.explain_ahead(exc)  # where the revision came from: the tooling asks git
        return _failed(out, exc, redact(str(exc), settings))
    except (KeyboardInterrupt, Terminated):
        return _interrupted(out, sys.exc_info()[1])
    except Exception as exc:
        if _from_the_database(exc):
            # Not one of ours: say what the server said, in one line, without the URL.
            if args.debug:
                raise
            return _database_error(out, exc, settings)
        # An interrupt Python wrapped (a RuntimeError from a class body, an
        # import) is still an interrupt; anything else is a bug: the traceback
        # (and, under --json, still one document on standard output).
        if signal_behind(exc) is None or args.debug:
            if out.json_mode and out.documents == 0:
                from bot_persistence.connection import first_line

                out.error_document(
                    "InternalError",
                    f"{type(exc).__name__}: {first_line(exc)}; this is a bug in bot-db, "
                    "please report it with the traceback below",
                )
            raise
        return _interrupted(out, signal_behind(exc))


def _from_the_database(exc: BaseException) -> bool:
    """True for an error SQLAlchemy or psycopg raised: the server's, not a bug of ours.

    Asked of the modules already loaded: a command that never imported them
    cannot have had an error from them (and --version must not import them).
    """
    wrapped = sys.modules.get("sqlalchemy.exc")
    driver = sys.modules.get("psycopg")
    return bool(
        (wrapped is not None and isinstance(exc, wrapped.SQLAlchemyError))
        or (driver is not None and isinstance(exc, driver.Error))
    )


def _database_error(out: Console, exc: BaseException, settings: Settings | None) -> int:
    """The one line for a database error that is not one of ours, and its exit code."""
    from bot_persistence.connection import first_line

    typed = _database_gone(exc, settings) if settings is not None else None
    if typed is not None:
        return _failed(out, typed, redact(str(typed), settings))
    line = f"unexpected database error: {first_line(exc)}; run with --debug for the traceback"
    out.error(redact(line, settings))
    if out.json_mode:
        out.error_document("DatabaseError", redact(line, settings))
    return 1


def _failed(out: Console, error: BotPersistenceError, line: str) -> int:
    """Print an expected failure's one line (and, under --json, its document); its exit code."""
    out.error(line)
    if out.json_mode and out.documents == 0:
        out.error_document(type(error).__name__, line)
    return error.exit_code


def _database_gone(exc: BaseException, settings: Settings) -> BotPersistenceError | None:
    """Our typed error when the server refused or dropped the command's connection.

    A command outlives its server when that is stopped or killed part-way: the
    next connect is refused, or the open connection is lost. Either way the
    line names the next step, not "unexpected database error".
    """
    from bot_persistence.connection import translate_call_error

    typed = translate_call_error(exc, settings)
    if isinstance(typed, ConnectionLostError):
        return ConnectionLostError(
            f"the connection to the server at {settings.address} was lost "
            "part-way (the server stopped or restarted); run `bot-db up`, then this "
            "command again"
        )
    return typed


def _interrupted(out: Console, interrupt: BaseException | None) -> int:
    """The one line and the exit code for Ctrl-C (130) or SIGTERM (143)."""
    terminated = isinstance(interrupt, Terminated)
    line = TERMINATED if terminated else INTERRUPTED
    out.error(line)
    if out.json_mode and out.documents == 0:
        out.error_document("Terminated" if terminated else "Interrupted", line)
    return 143 if terminated else 130


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
