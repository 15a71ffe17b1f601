"""docs-check's other direction: the README names every bot-db command and global option."""

from __future__ import annotations

from pathlib import Path

from bot_persistence import cli
from bot_persistence.devtools.command_catalog import CommandSpec
from bot_persistence.devtools.command_coverage import check_readme_covers_commands, command_paths

ROOT = Path(__file__).resolve().parents[2]
SPEC = CommandSpec.from_parser(cli.build_parser())


def test_the_readme_names_every_command_and_global_option() -> None:
    assert check_readme_covers_commands(ROOT / "README.md", SPEC) == []


def test_command_paths_include_nested_commands() -> None:
    paths = set(command_paths(SPEC))
    assert {("migrations",), ("help",), ("completion",), ("snapshot", "save")} <= paths


def test_a_command_the_readme_omits_is_named(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    readme.write_text(text.replace("bot-db migrations", "the migrations command"))
    problems = [message for _, message in check_readme_covers_commands(readme, SPEC)]
    assert problems == [
        "`bot-db migrations` exists but the README never shows it; add it to its table"
    ]


def test_a_prefix_of_a_longer_command_does_not_count(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("`bot-db migrations` `bot-db --version -v --debug --json`\n")
    messages = [message for _, message in check_readme_covers_commands(readme, SPEC)]
    assert any(message.startswith("`bot-db migrate`") for message in messages)
    assert not any("migrations" in message for message in messages)
    assert not any("never shows bot-db's" in message for message in messages)
