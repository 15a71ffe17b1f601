"""What every check reports: one place where the docs and the code disagree."""

from __future__ import annotations

import dataclasses
from pathlib import Path

__all__ = ["Problem", "source_line"]


@dataclasses.dataclass(frozen=True)
class Problem:
    """One place where the docs and the code disagree, shown as ``file:line: message``."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def source_line(path: Path, needle: str) -> int:
    """The first line of ``path`` that contains ``needle`` (1 when none does)."""
    if path.is_file():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if needle in line:
                return number
    return 1
