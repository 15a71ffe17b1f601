"""Output for people: one short line per step, aligned, coloured only on a terminal.

Commands write through a :class:`Console` bound to a stream, so tests read what
a person would see, and ``--json`` output stays free of decoration: in JSON
mode the lines for people are dropped and only the document is written.

A step that can take more than a second (a cold start, an image pull, a
migration) runs inside :meth:`Console.step`: on a terminal a spinner line
updates in place with the elapsed time and the step's latest detail (the
``bot_persistence`` log records it emits, such as "pulling postgres:18");
elsewhere a step still running after a second prints one plain line, and its
details print as plain lines, so a log file shows what a slow run waited on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

__all__ = ["Console", "document_only", "escaped", "wants_colour"]

#: How ``repr`` spells a byte that ``surrogateescape`` kept (``\\udce9`` for 0xe9).
_REPR_OF_BYTE = re.compile(r"\\udc([89a-f][0-9a-f])")
_COLOURS = {"green": "32", "red": "31", "yellow": "33", "dim": "2", "bold": "1"}
_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
#: Steps quicker than this show nothing until their ✓ line.
SLOW_STEP = 1.0


def escaped(text: str) -> str:
    """``text`` with undecodable bytes shown as ``\\xe9``: printable on any terminal.

    Names from outside (a git branch, a file, an environment value) are bytes;
    where they are not UTF-8 they reach us with the bytes kept as lone
    surrogates (``surrogateescape``). Printed as they are, they end the command
    with ``UnicodeEncodeError`` on a strict stream; shown this way a person
    still sees which bytes they are, as git shows them. A message that quoted
    such a name with ``repr`` already spelled the byte ``\\udce9``: that
    spelling is shown as ``\\xe9`` too.
    """
    if text.isascii():
        return _REPR_OF_BYTE.sub(r"\\x\1", text) if "\\udc" in text else text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate no undecodable byte made: spell it out
        raw = text.encode("utf-8", "backslashreplace")
    return _REPR_OF_BYTE.sub(r"\\x\1", raw.decode("utf-8", "backslashreplace"))


def _escaped_document(value: Any) -> Any:
    """``value`` with every string in it (keys too) :func:`escaped`."""
    if isinstance(value, str):
        return escaped(value)
    if isinstance(value, dict):
        return {_escaped_document(key): _escaped_document(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped_document(item) for item in value]
    return value


def wants_colour(terminal: bool, environ: Mapping[str, str]) -> bool:
    """Colour on a terminal; NO_COLOR (set, not empty) turns it off, FORCE_COLOR on.

    CI logs are no terminal, yet render colour and set FORCE_COLOR to ask for it
    (force-color.org); NO_COLOR wins over it (no-color.org).
    """
    if environ.get("NO_COLOR", ""):
        return False
    force = environ.get("FORCE_COLOR", "")
    if force:
        return force.lower() not in {"0", "false"}
    return terminal


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _Step(logging.Handler):
    """A running step: draws the spinner (terminal) or the plain lines (elsewhere)."""

    def __init__(self, console: Console, label: str, *, after: float, echo: bool) -> None:
        super().__init__(logging.INFO)
        self.console = console
        self.echo = echo
        self.label = label
        self.detail = ""
        self.after = after
        self.started = time.monotonic()
        self.announced = False
        self.done = threading.Event()
        self.drawing = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="bot-db-progress", daemon=True)

    def emit(self, record: logging.LogRecord) -> None:
        with self.drawing:
            self.detail = record.getMessage()
            if self.echo and not self.console.live:
                self.console.line(self.console.paint(f"  {self.detail}", "dim"))

    def _run(self) -> None:
        # Waits on the event, not a sleep: the step's end wakes it at once.
        if self.done.wait(self.after):
            return
        if not self.console.live:
            with self.drawing:
                self.announced = True
                self.console.line(self.console.paint(f"… {self.label}", "dim"))
            return
        frame = 0
        while not self.done.is_set():
            with self.drawing:
                elapsed = time.monotonic() - self.started
                detail = f" ({self.detail})" if self.detail else ""
                text = escaped(
                    f"{_FRAMES[frame % len(_FRAMES)]} {self.label}{detail} {elapsed:.1f}s"
                )
                self.console.stream.write(f"\r\033[K{text}")
                self.console.stream.flush()
                self.announced = True
            frame += 1
            self.done.wait(0.1)

    def finish(self) -> None:
        self.done.set()
        self.thread.join()
        if self.announced and self.console.live:
            self.console.stream.write("\r\033[K")
            self.console.stream.flush()


class Console:
    """Writes lines to ``stream``; colours them when it is a terminal and NO_COLOR is unset.

    ``json_mode`` drops every line for people (and progress) and keeps only
    :meth:`json` output, so ``bot-db up --json | jq`` reads one document.
    """

    def __init__(
        self, stream: TextIO | None = None, *, err: TextIO | None = None, json_mode: bool = False
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.json_mode = json_mode
        terminal = _is_terminal(self.stream)
        self.colour = wants_colour(terminal, os.environ)
        #: A spinner can redraw its line: a terminal that is not "dumb".
        self.live = terminal and os.environ.get("TERM") != "dumb"
        #: What :meth:`ok` marked finished, in order: a caller running a command
        #: in-process (the onboarding checklist) reads this, not the text.
        self.finished: list[str] = []
        #: What :meth:`fail` and :meth:`error` reported, in order.
        self.failures: list[str] = []
        #: How many JSON documents were written: ``--json`` promises exactly one.
        self.documents = 0

    def paint(self, text: str, colour: str) -> str:
        """``text`` in ``colour`` on a terminal, unchanged elsewhere."""
        if not self.colour:
            return text
        return f"\033[{_COLOURS[colour]}m{text}\033[0m"

    def line(self, text: str = "") -> None:
        """One line of output (dropped in JSON mode)."""
        if not self.json_mode:
            print(escaped(text), file=self.stream, flush=True)

    def field(self, label: str, value: object, *, width: int = 10) -> None:
        """An aligned ``label  value`` line."""
        self.line(f"{self.paint(label.ljust(width), 'dim')} {value}")

    def ok(self, text: str) -> None:
        """A finished step."""
        self.finished.append(text)
        self.line(f"{self.paint('✓', 'green')} {text}")

    def fail(self, text: str) -> None:
        """A failed step."""
        self.failures.append(text)
        self.line(f"{self.paint('✗', 'red')} {text}")

    def error(self, text: str) -> None:
        """The one line an expected failure prints, on standard error."""
        self.failures.append(text)
        print(f"bot-db: error: {escaped(text)}", file=self.err, flush=True)

    def warn(self, text: str) -> None:
        """A warning on standard error: the command goes on."""
        print(f"bot-db: warning: {escaped(text)}", file=self.err, flush=True)

    def error_document(self, kind: str, message: str) -> None:
        """``{"ok": false, "error": {"type", "message", "hint"}}``: a failure under ``--json``.

        Our messages say what happened, then after ``; `` what to do: that second
        part is the hint (null when the message has none).
        """
        hint = message.partition("; ")[2]
        self.json({"ok": False, "error": {"type": kind, "message": message, "hint": hint or None}})

    def json(self, payload: Any) -> None:
        """A JSON document for machines."""
        self.documents += 1
        document = _escaped_document(payload)
        text = json.dumps(document, indent=2, sort_keys=True, default=lambda o: escaped(str(o)))
        print(text, file=self.stream)

    @contextlib.contextmanager
    def step(self, label: str, *, after: float = SLOW_STEP) -> Iterator[None]:
        """Show ``label`` as live progress while the block runs, if it runs past ``after`` s.

        The caller prints the step's ✓ line afterwards, as for a quick step.
        """
        if self.json_mode:
            yield
            return
        logger = logging.getLogger("bot_persistence")
        level, propagate = logger.level, logger.propagate
        # The details are INFO records. Without -v the logger drops them: let
        # them through to this step only (not on to the root's handler); with
        # -v the root prints them already, so the step does not repeat them.
        quiet = logger.getEffectiveLevel() > logging.INFO
        running = _Step(self, label, after=after, echo=quiet)
        if quiet:
            logger.setLevel(logging.INFO)
            logger.propagate = False
        logger.addHandler(running)
        running.thread.start()
        try:
            yield
        finally:
            logger.removeHandler(running)
            logger.setLevel(level)
            logger.propagate = propagate
            running.finish()


def _descriptor(stream: TextIO) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # a StringIO, a closed or detached stream
        return None


@contextlib.contextmanager
def document_only(console: Console) -> Iterator[None]:
    """With ``--json``, keep standard output for the document alone while the command runs.

    Alembic prints its progress ("Generating ... done") with ``print``, its
    post-write hook runs ruff, and psql writes to file descriptor 1 itself:
    none of it is ours to drop, so all of it goes to standard error instead.
    Python-level writes are redirected; when the console writes to the real
    descriptor 1, that descriptor is pointed at standard error too and the
    document is written to a copy of the original.
    """
    if not console.json_mode:
        yield
        return
    original = console.stream
    descriptor = _descriptor(original)
    err_descriptor = _descriptor(console.err)
    with contextlib.redirect_stdout(console.err):
        if descriptor != 1 or err_descriptor is None:
            yield
            return
        original.flush()
        kept = os.dup(1)
        os.dup2(err_descriptor, 1)
        document = os.fdopen(kept, "w", encoding="utf-8", errors="backslashreplace", closefd=True)
        console.stream = document
        try:
            yield
        finally:
            document.flush()
            sys.stdout.flush()
            os.dup2(kept, 1)
            console.stream = original
            document.close()
