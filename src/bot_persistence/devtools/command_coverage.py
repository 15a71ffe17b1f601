"""The README names every ``bot-db`` command and global option there is.

``check_commands`` proves that each command the docs show exists; this is the
other direction: a command added to the parser's table (``bot-db
migrations``, ``bot-db completion``) or a global option (``--version``) that
the README does not mention is a docs-check failure, so a new user finds it
where they look first. A nested command may be shown without its ``bot-db``
prefix (``snapshot restore NAME`` beside ``bot-db snapshot save NAME``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from bot_persistence.devtools.command_catalog import CommandSpec

__all__ = ["GLOBAL_OPTIONS", "check_readme_covers_commands", "command_paths"]

#: Options of ``bot-db`` itself that the README must explain.
GLOBAL_OPTIONS = ("--version", "-v", "--debug", "--json")


def command_paths(spec: CommandSpec, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path: ``("up",)``, ``("snapshot",)``, ``("snapshot", "save")`` ..."""
    for name, sub in sorted(spec.subcommands.items()):
        path = (*prefix, name)
        yield path
        yield from command_paths(sub, path)


def check_readme_covers_commands(readme: Path, spec: CommandSpec) -> list[tuple[int, str]]:
    """``(line, message)`` for each command or global option the README never names.

    The line is 1: what is missing has no line of its own.
    """
    text = readme.read_text(encoding="utf-8")
    missing: list[tuple[int, str]] = []
    for path in command_paths(spec):
        words = r"\s+".join(re.escape(word) for word in path)
        prefix = r"`bot-db\s+" if len(path) == 1 else r"`(?:bot-db\s+)?"
        if not re.search(prefix + words + r"(?=[\s`])", text):
            shown = " ".join(path)
            missing.append(
                (1, f"`bot-db {shown}` exists but the README never shows it; add it to its table")
            )
    for option in GLOBAL_OPTIONS:
        if not re.search(rf"`(?:[^`]*\s)?{re.escape(option)}(?=[\s`])", text):
            missing.append((1, f"the README never shows bot-db's `{option}`"))
    return missing
