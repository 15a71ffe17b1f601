"""The docs' code blocks a reader runs, and what each says about being run here.

Every shell and Python block of README.md, CONTRIBUTING.md and docs/ is run
in a temporary copy of the checkout (:mod:`.transcript`) unless an HTML
comment right before it says otherwise. The comment is invisible on a
rendered page and reads, after ``docs-check:``, one of:

- ``not runnable here: REASON``: the block is shown, not run (an
  interactive psql, Docker, the whole CI run); the reason is required;
- ``run by PATH``: another test runs it (``docs/conftest.py`` runs
  docs/testing.md's examples with sybil); PATH must exist;
- ``exit N; prints TEXT; prints TEXT``: run it, expecting exit code N (0 when
  not said) and each TEXT somewhere in what it prints.

A comment ``docs-check: setup: COMMAND`` anywhere on a page runs COMMAND in
the copy before the page's first block (``bot-db up`` for a page that
starts from a running database), and is not itself shown to the reader.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Literal

from bot_persistence.devtools.docs_check.markdown import SHELL_LANGUAGES, Document
from bot_persistence.devtools.docs_check.problem import Problem

__all__ = ["Block", "Page", "check_blocks", "read_page"]

_MARKER = re.compile(r"^<!--\s*docs-check:\s*(?P<body>.*?)\s*-->\s*$", re.DOTALL)
_EXIT = re.compile(r"^exit\s+(\d+)$")
_PRINTS = re.compile(r"^prints\s+(.+)$")


@dataclasses.dataclass(frozen=True)
class Block:
    """One code block: where it is, how to run it, and what running it must show."""

    line: int
    language: Literal["shell", "python"]
    source: str
    #: "run" (here, by docs-check's runner), "elsewhere" (run by) or "shown" (not runnable).
    how: Literal["run", "elsewhere", "shown"] = "run"
    exit_code: int = 0
    prints: tuple[str, ...] = ()
    #: The reason (not runnable) or the path of the test that runs it (run by).
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Page:
    """A page's blocks, the setup commands it asks for, and the markers it could not read."""

    blocks: tuple[Block, ...]
    setup: tuple[str, ...]
    problems: tuple[tuple[int, str], ...]

    @property
    def runnable(self) -> tuple[Block, ...]:
        return tuple(block for block in self.blocks if block.how == "run")


def _language(info: str) -> Literal["shell", "python"] | None:
    """``shell`` or ``python`` for a block a reader runs; None for the rest.

    A fence without a language is most often output or a diagram (``text``
    says so better); it is not run, though the commands check still reads it.
    """
    name = info.split(maxsplit=1)[0].lower() if info.strip() else ""
    if name and name in SHELL_LANGUAGES:
        return "shell"
    if name in {"python", "py", "python3"}:
        return "python"
    return None


def _directive(body: str, block: Block, root: Path) -> tuple[Block, str | None]:
    """``block`` as the marker ``body`` says, or the problem with the marker."""
    if body.startswith("not runnable here"):
        reason = body.removeprefix("not runnable here").lstrip(":").strip()
        if not reason:
            return block, "`not runnable here` needs the reason after a colon"
        return dataclasses.replace(block, how="shown", note=reason), None
    if body.startswith("run by "):
        path = body.removeprefix("run by ").strip()
        if not (root / path).exists():
            return block, f"`run by {path}`: no such file in the checkout"
        return dataclasses.replace(block, how="elsewhere", note=path), None
    exit_code, prints = 0, []
    for part in (item.strip() for item in body.split(";")):
        if found := _EXIT.match(part):
            exit_code = int(found.group(1))
        elif found := _PRINTS.match(part):
            prints.append(found.group(1).strip().strip('"'))
        else:
            return block, (
                f"unknown docs-check marker {part!r}: say `not runnable here: REASON`, "
                "`run by PATH`, or `exit N; prints TEXT`"
            )
    return dataclasses.replace(block, exit_code=exit_code, prints=tuple(prints)), None


def read_page(path: Path, root: Path) -> Page:
    """The code blocks of the page at ``path`` with their markers; ``root`` is the checkout."""
    document = Document(path.read_text(encoding="utf-8"))
    blocks: list[Block] = []
    setup: list[str] = []
    problems: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for token in document.tokens:
        if token.type == "html_block" and token.map is not None:
            found = _MARKER.match(token.content.strip())
            if found is None:
                continue
            body = found.group("body")
            if body.startswith("setup:"):
                setup.append(body.removeprefix("setup:").strip())
            else:
                pending = (token.map[0] + 1, body)
            continue
        if token.type != "fence" or token.map is None:
            if pending is not None and token.type not in {"html_block"}:
                problems.append((pending[0], "a docs-check marker must come right before a block"))
                pending = None
            continue
        language = _language(token.info)
        if language is None:
            pending = None
            continue
        block = Block(token.map[0] + 1, language, token.content)
        if pending is not None:
            block, problem = _directive(pending[1], block, root)
            if problem is not None:
                problems.append((pending[0], problem))
            pending = None
        blocks.append(block)
    return Page(tuple(blocks), tuple(setup), tuple(problems))


def check_blocks(path: Path, root: Path, *, shown_as: Path | None = None) -> list[Problem]:
    """The markers of ``path`` read cleanly (the static half; running is :mod:`.transcript`)."""
    label = shown_as or path
    return [Problem(label, line, message) for line, message in read_page(path, root).problems]
