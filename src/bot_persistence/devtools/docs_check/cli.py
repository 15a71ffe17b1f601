"""docs-check's command line: run every check over a checkout, print ``file:line: message``.

``python -m bot_persistence.devtools.docs_check`` (``nox -s docs-check``) runs
:func:`main`; ``--fix`` first regenerates the docs' generated blocks with cog,
then checks as usual, so what is left is what a person must fix.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

from bot_persistence.devtools.command_catalog import Catalog
from bot_persistence.devtools.command_coverage import check_readme_covers_commands
from bot_persistence.devtools.docs_check.blocks import check_blocks
from bot_persistence.devtools.docs_check.commands import check_commands, check_script_commands
from bot_persistence.devtools.docs_check.env_example import check_env_example
from bot_persistence.devtools.docs_check.generated import (
    check_erd,
    check_generated,
    fix_generated,
)
from bot_persistence.devtools.docs_check.layout import check_layout
from bot_persistence.devtools.docs_check.links import check_links
from bot_persistence.devtools.docs_check.problem import Problem
from bot_persistence.devtools.docs_check.transcript import run_page
from bot_persistence.devtools.docs_check.troubleshooting import check_troubleshooting

__all__ = ["default_docs", "main", "run_checks"]


def default_docs(root: Path) -> list[Path]:
    """The Markdown a contributor reads: README, CONTRIBUTING and everything in docs/."""
    docs = [root / "README.md", root / "CONTRIBUTING.md"]
    docs.extend(sorted((root / "docs").glob("**/*.md")))
    return [doc for doc in docs if doc.is_file()]


def run_checks(root: Path, catalog: Catalog | None = None) -> list[Problem]:
    """Every check over the checkout at ``root``; paths in problems are relative to it."""
    catalog = catalog or Catalog.from_project(root)

    def rel(path: Path) -> Path:
        try:
            return path.resolve().relative_to(root.resolve())
        except ValueError:
            return path

    problems: list[Problem] = []
    for doc in default_docs(root):
        problems += check_commands(doc, catalog, shown_as=rel(doc))
        problems += check_links(doc, shown_as=rel(doc))
        problems += check_generated(doc, shown_as=rel(doc))
        problems += check_blocks(doc, root, shown_as=rel(doc))
    scripts = [root / ".ci" / "run", *sorted((root / ".github" / "workflows").glob("*.y*ml"))]
    for script in scripts:
        if script.is_file():
            problems += check_script_commands(script, catalog, shown_as=rel(script))
    problems += check_env_example(root / ".env.example", shown_as=Path(".env.example"))
    problems += check_erd(root / "docs" / "schema.md", shown_as=Path("docs/schema.md"))
    problems += check_troubleshooting(
        root / "docs" / "troubleshooting.md", shown_as=Path("docs/troubleshooting.md")
    )
    if (root / "README.md").is_file():
        problems += [
            Problem(Path("README.md"), line, message)
            for line, message in check_readme_covers_commands(root / "README.md", catalog.bot_db)
        ]
    package = root / "src" / "bot_persistence"
    if package.is_dir() and (root / "README.md").is_file():
        problems += check_layout(root / "README.md", package, shown_as=Path("README.md"))
    unique = dict.fromkeys(dataclasses.replace(p, path=rel(p.path)) for p in problems)
    return list(unique)


def main(argv: Sequence[str] | None = None) -> int:
    """Print every problem as ``file:line: message``; exit 1 when there is any."""
    parser = argparse.ArgumentParser(
        prog="docs-check", description="Check the docs against the code."
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the checkout to check")
    parser.add_argument(
        "--run",
        action="store_true",
        help="also run every runnable code block, one temporary copy of the checkout per page",
    )
    parser.add_argument(
        "--fix",
        action="store_true",
        help="regenerate the generated blocks (cog -r) before checking",
    )
    args = parser.parse_args(argv)
    if args.fix:
        for changed in fix_generated(default_docs(args.root)):
            print(f"docs-check: regenerated {changed}")
    problems = run_checks(args.root)
    if args.run and not problems:
        for doc in default_docs(args.root):
            shown = doc.relative_to(args.root) if doc.is_relative_to(args.root) else doc
            problems += run_page(doc, args.root, shown_as=shown)
    for problem in problems:
        print(problem)
    if problems:
        print(f"docs-check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    ran = ", runnable blocks ran" if args.run else ""
    print(
        f"docs-check: {len(default_docs(args.root))} docs, .env.example, generated blocks, "
        f"layout: all agree{ran}"
    )
    return 0
