"""Generated blocks (the ER diagram, the README's command table) are what the code makes now.

The blocks are cog blocks (:mod:`bot_persistence.devdb.generated`): cogapp
runs each block's code and this check compares its output with the page, so
a stale block fails with the line where it starts. ``--fix`` rewrites them
instead (``cog -r``), so drift is removed, not only found.
"""

from __future__ import annotations

from pathlib import Path

from bot_persistence.devdb import erd, generated
from bot_persistence.devtools.docs_check.problem import Problem
from bot_persistence.errors import ConfigurationError

__all__ = ["check_erd", "check_generated", "fix_generated"]

_FIX = "run `nox -s docs-check -- --fix` (cog -r) and commit it"


def check_generated(doc: Path, *, shown_as: Path | None = None) -> list[Problem]:
    """Every cog block in ``doc`` holds what its code generates now."""
    label = shown_as or doc
    text = doc.read_text(encoding="utf-8")
    if not generated.has_blocks(text):
        return []
    try:
        new = generated.generate(doc, text)
    except ConfigurationError as exc:
        return [Problem(label, 1, str(exc))]
    if new == text:
        return []
    old_lines, new_lines = text.splitlines(), new.splitlines()
    differs = next(
        (i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=False)) if a != b),
        min(len(old_lines), len(new_lines)),
    )
    starts = [i for i, line in enumerate(old_lines[: differs + 1]) if generated.BEGIN in line]
    line = (starts[-1] if starts else differs) + 1
    return [Problem(label, line, f"this generated block differs from what the code makes; {_FIX}")]


def fix_generated(docs: list[Path]) -> list[Path]:
    """Rewrite every cog block in ``docs``; the pages that changed."""
    return [
        doc
        for doc in docs
        if generated.has_blocks(doc.read_text("utf-8")) and generated.regenerate(doc)
    ]


def check_erd(schema_doc: Path, *, shown_as: Path | None = None) -> list[Problem]:
    """The schema page exists and holds the ER diagram's block, as the models generate it."""
    label = shown_as or schema_doc
    if not schema_doc.is_file():
        message = "the schema page is missing; create it and run `bot-db erd --write`"
        return [Problem(label, 1, message)]
    if erd.BEGIN_MARKER not in schema_doc.read_text(encoding="utf-8"):
        message = "no ER diagram markers; add them, then run `bot-db erd --write`"
        return [Problem(label, 1, message)]
    return check_generated(schema_doc, shown_as=shown_as)
