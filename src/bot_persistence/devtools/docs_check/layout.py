"""The README's Layout section matches the tree: what it names exists, and it names every package.

Each list item of the section is read for code spans that name a path
(``models/``, ``runner.py``, ``tests/unit``, ``alembic.ini``): one must exist in
``src/bot_persistence/``, at the root of the checkout, or in a folder named
earlier in the same item (``compose/`` … ``image/``). Every package folder
under ``src/bot_persistence/``, nested ones too, must be one of them, so a
new package cannot land without a line saying what it is for.
"""

from __future__ import annotations

from pathlib import Path

from bot_persistence.devtools.docs_check.markdown import Document
from bot_persistence.devtools.docs_check.problem import Problem

__all__ = ["LAYOUT_HEADING", "check_layout", "names_a_path"]

LAYOUT_HEADING = "Layout"
_FILE_SUFFIXES = (".py", ".md", ".ini", ".toml", ".yml", ".yaml", ".sh", ".json", ".txt")


def names_a_path(span: str) -> bool:
    """True when a code span reads as a path (a folder, a file), not as a command or a word."""
    if not span or any(char.isspace() for char in span) or span.startswith("-"):
        return False
    return span.endswith("/") or "/" in span or span.endswith(_FILE_SUFFIXES)


def _packages(package: Path) -> list[Path]:
    """Every package folder below ``package`` (one holding ``__init__.py``), sorted."""
    return sorted(init.parent for init in package.rglob("__init__.py") if init.parent != package)


def check_layout(readme: Path, package: Path, *, shown_as: Path | None = None) -> list[Problem]:
    """The Layout section of ``readme`` is true to the tree rooted at ``readme``'s folder."""
    label = shown_as or readme
    root = readme.parent
    document = Document(readme.read_text(encoding="utf-8"))
    heading = next((h for h in document.headings() if h.text == LAYOUT_HEADING), None)
    if heading is None:
        message = f"no `## {LAYOUT_HEADING}` section; add one naming each package folder"
        return [Problem(label, 1, message)]
    problems: list[Problem] = []
    named: set[Path] = set()
    for item in document.section_items(LAYOUT_HEADING):
        folders: list[Path] = []
        for line, span in item:
            if not names_a_path(span):
                continue
            relative = span.rstrip("/")
            places = [package, root, *folders]
            found = next((p / relative for p in places if (p / relative).exists()), None)
            if found is None:
                problems.append(
                    Problem(
                        label,
                        line,
                        f"the Layout section names `{span}`, which is neither in "
                        f"{package.relative_to(root)}/ nor at the root; fix the name "
                        "or drop the line",
                    )
                )
                continue
            found = found.resolve()
            named.add(found)
            if found.is_dir():
                folders.append(found)
    for folder in _packages(package):
        if folder.resolve() not in named:
            where = folder.relative_to(root)
            problems.append(
                Problem(
                    label,
                    heading.line,
                    f"{where}/ is a package the Layout section does not name; "
                    f"add `{folder.name}/` to it with what it holds",
                )
            )
    return problems
