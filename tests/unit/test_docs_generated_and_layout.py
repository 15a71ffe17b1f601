"""docs-check's generated blocks (cog) and the README layout check, on fixture checkouts."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import pytest

from bot_persistence.cli import build_parser
from bot_persistence.devdb import generated
from bot_persistence.devtools import docs_check
from bot_persistence.devtools.command_catalog import command_table
from bot_persistence.devtools.docs_check.markdown import Document
from bot_persistence.errors import ConfigurationError

REPO = Path(__file__).resolve().parents[2]
BLOCK = '<!-- [[[cog cog.outl("made by code") ]]] -->'


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_a_stale_generated_block_is_reported_at_its_first_line_and_fix_rewrites_it(
    tmp_path: Path,
) -> None:
    doc = write(tmp_path / "page.md", f"# Page\n\n{BLOCK}\nedited by hand\n<!-- [[[end]]] -->\n")
    [problem] = docs_check.check_generated(doc)
    assert (problem.line, "differs from what the code makes" in problem.message) == (3, True)
    assert docs_check.fix_generated([doc]) == [doc]
    assert "\nmade by code\n" in doc.read_text(encoding="utf-8")
    assert docs_check.check_generated(doc) == []
    assert docs_check.fix_generated([doc]) == []


def test_a_generated_block_whose_code_fails_is_one_problem_not_a_traceback(
    tmp_path: Path,
) -> None:
    doc = write(
        tmp_path / "page.md", "<!-- [[[cog import no_such_module ]]] -->\n<!-- [[[end]]] -->\n"
    )
    [problem] = docs_check.check_generated(doc)
    assert "a generated block failed: ModuleNotFoundError" in problem.message
    with pytest.raises(ConfigurationError, match="no_such_module"):
        generated.regenerate(doc)


def test_main_fix_regenerates_then_checks(project_with_readme: Path) -> None:
    readme = project_with_readme / "README.md"
    assert docs_check.main(["--root", str(project_with_readme)]) == 1
    docs_check.main(["--root", str(project_with_readme), "--fix"])
    assert "made by code" in readme.read_text(encoding="utf-8")
    assert docs_check.check_generated(readme) == []


@pytest.fixture
def project_with_readme(tmp_path: Path) -> Path:
    write(tmp_path / "README.md", f"# Project\n\n{BLOCK}\nold\n<!-- [[[end]]] -->\n")
    write(tmp_path / ".env.example", (REPO / ".env.example").read_text(encoding="utf-8"))
    return tmp_path


def test_the_command_table_lists_every_command_of_the_parser() -> None:
    table = command_table()
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name in commands.choices:
        assert f"| `bot-db {name}" in table
    assert "| `bot-db downgrade REV` | downgrade to REV" in table
    assert "| `bot-db snapshot restore NAME` |" in table


def test_the_committed_readme_and_schema_page_are_current() -> None:
    for page in (REPO / "README.md", REPO / "docs" / "schema.md"):
        assert generated.has_blocks(page.read_text(encoding="utf-8"))
        assert docs_check.check_generated(page) == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A checkout with src/bot_persistence/{models, devtools/docs_check} and a compose/image."""
    package = tmp_path / "src" / "bot_persistence"
    for folder in ("models", "devtools/docs_check"):
        write(package / folder / "__init__.py", "")
    write(package / "db.py", "")
    (package / "__pycache__").mkdir()
    write(tmp_path / "compose" / "image" / "build.sh", "")
    return tmp_path


def layout_problems(root: Path, section: str) -> list[str]:
    readme = write(root / "README.md", f"# Project\n\n## Layout\n\n{section}\n## Next\n")
    problems = docs_check.check_layout(readme, root / "src" / "bot_persistence")
    return [p.message for p in problems]


def test_a_layout_naming_every_package_and_only_real_paths_passes(tree: Path) -> None:
    section = textwrap.dedent(
        """
        - `db.py`, `models/`: the runtime.
        - `devtools/`: tooling, with `docs_check/`
          (one module per check).
        - `compose/`: and `image/`, the image recipe; `nox -l` is a command, not a path.
        """
    )
    assert layout_problems(tree, section) == []


def test_a_layout_naming_a_missing_path_is_reported_at_its_line(tree: Path) -> None:
    section = "- `db.py`, `models/`, `devtools/` and `docs_check/`.\n- `gone/`: removed.\n"
    readme_problems = docs_check.check_layout(
        write(tree / "README.md", f"## Layout\n\n{section}"), tree / "src" / "bot_persistence"
    )
    assert [(p.line, p.message.split(",")[0]) for p in readme_problems] == [
        (4, "the Layout section names `gone/`")
    ]


def test_a_package_the_layout_does_not_name_is_reported(tree: Path) -> None:
    found = layout_problems(tree, "- `db.py`, `models/`, `devtools/`.\n")
    assert found == [
        "src/bot_persistence/devtools/docs_check/ is a package the Layout section does not "
        "name; add `docs_check/` to it with what it holds"
    ]


def test_a_readme_without_a_layout_section_is_reported(tree: Path) -> None:
    readme = write(tree / "README.md", "# Project\n")
    [problem] = docs_check.check_layout(readme, tree / "src" / "bot_persistence")
    assert "no `## Layout` section" in problem.message


def test_markdown_is_read_as_a_renderer_reads_it() -> None:
    document = Document(
        textwrap.dedent(
            """
            # Title

            - a list item with a fence:

              ```sh
              $ bot-db up
              ```

            ```
            # not a heading, and `not a span`
            ```

            Text with [a link](target.md#part) and ![an image](picture.png).
            """
        ).lstrip("\n")
    )
    assert list(document.shell_lines()) == [
        (6, "bot-db up"),
        (10, "# not a heading, and `not a span`"),
    ]
    assert [h.text for h in document.headings()] == ["Title"]
    assert list(document.links()) == [(13, "target.md#part")]
    assert list(document.code_spans()) == []
