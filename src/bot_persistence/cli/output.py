"""Output for people: one short line per step, aligned, coloured only on a terminal.

Commands write through a :class:`Console` bound to a stream, so tests read what
a person would see, and ``--json`` output stays free of decoration.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO

__all__ = ["Console"]

_COLOURS = {"green": "32", "red": "31", "yellow": "33", "dim": "2", "bold": "1"}


class Console:
    """Writes lines to ``stream``; colours them when it is a terminal and NO_COLOR is unset."""

    def __init__(self, stream: TextIO | None = None, *, err: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.colour = bool(isatty and isatty()) and "NO_COLOR" not in os.environ
        #: What :meth:`ok` marked finished, in order: a caller running a command
        #: in-process (the onboarding checklist) reads this, not the text.
        self.finished: list[str] = []
        #: What :meth:`fail` and :meth:`error` reported, in order.
        self.failures: list[str] = []

    def paint(self, text: str, colour: str) -> str:
        """``text`` in ``colour`` on a terminal, unchanged elsewhere."""
        if not self.colour:
            return text
        return f"\033[{_COLOURS[colour]}m{text}\033[0m"

    def line(self, text: str = "") -> None:
        """One line of output."""
        print(text, file=self.stream, flush=True)

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
        print(f"bot-db: error: {text}", file=self.err, flush=True)

    def json(self, payload: Any) -> None:
        """A JSON document for machines."""
        print(json.dumps(payload, indent=2, sort_keys=True, default=str), file=self.stream)
