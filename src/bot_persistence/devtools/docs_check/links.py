"""Every relative link in the docs names an existing file, and a heading for its ``#anchor``."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from bot_persistence.devtools.docs_check.markdown import Document
from bot_persistence.devtools.docs_check.problem import Problem

__all__ = ["anchors", "check_links"]

_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def anchors(text: str) -> set[str]:
    """The ``#anchors`` a Markdown text's headings give, duplicates numbered as GitHub does."""
    return Document(text).anchors()


def check_links(doc: Path, *, shown_as: Path | None = None) -> list[Problem]:
    """Every relative link in ``doc`` names an existing file (and heading, for ``#anchor``)."""
    label = shown_as or doc
    text = doc.read_text(encoding="utf-8")
    problems: list[Problem] = []
    for number, target in Document(text).links():
        if _EXTERNAL.match(target):
            continue
        target = unquote(target)  # markdown-it hands the link over percent-encoded
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.exists():
            problems.append(
                Problem(label, number, f"link to {target!r}: {file_part} does not exist")
            )
            continue
        if (
            anchor
            and linked.suffix == ".md"
            and linked.is_file()
            and anchor not in anchors(linked.read_text(encoding="utf-8"))
        ):
            problems.append(
                Problem(
                    label,
                    number,
                    f"link to {target!r}: {linked.name} has no heading for #{anchor}",
                )
            )
    return problems
