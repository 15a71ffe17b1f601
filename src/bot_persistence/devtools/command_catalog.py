"""What commands exist right now: ``bot-db``'s parser, nox sessions, make targets, dev-env verbs.

docs-check compares the commands the docs show with this catalog, read from
the code at check time, so a renamed option or a removed session is caught the
moment it happens. The noxfile, Makefile and ``dev-env.sh`` are parsed, not
run: the check needs neither nox nor make, and runs nothing of theirs.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import re
from pathlib import Path

__all__ = [
    "Catalog",
    "CommandSpec",
    "command_table",
    "dev_env_verbs",
    "make_targets",
    "nox_sessions",
]


@dataclasses.dataclass(frozen=True)
class CommandSpec:
    """A ``bot-db`` (sub)command: its options, its subcommands, whether it passes args on."""

    options: frozenset[str]
    subcommands: dict[str, CommandSpec]
    passes_arguments_on: bool = False

    @classmethod
    def from_parser(cls, parser: argparse.ArgumentParser) -> CommandSpec:
        """Read an argparse parser (recursively) into a spec."""
        options: set[str] = set()
        subcommands: dict[str, CommandSpec] = {}
        passes_on = False
        for action in parser._actions:
            options.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    subcommands[name] = cls.from_parser(sub)
            elif not action.option_strings and action.nargs == argparse.REMAINDER:
                passes_on = True
        return cls(frozenset(options), subcommands, passes_on)


@dataclasses.dataclass(frozen=True)
class Catalog:
    """Every command that exists right now, read from the code at check time."""

    bot_db: CommandSpec
    nox_sessions: frozenset[str]
    make_targets: frozenset[str]
    dev_env_verbs: frozenset[str]

    @classmethod
    def from_project(cls, root: Path, parser: argparse.ArgumentParser | None = None) -> Catalog:
        """The catalog of the checkout at ``root`` (``bot-db``'s own parser by default)."""
        if parser is None:
            from bot_persistence.cli import build_parser

            parser = build_parser()
        return cls(
            bot_db=CommandSpec.from_parser(parser),
            nox_sessions=frozenset(nox_sessions(root / "noxfile.py")),
            make_targets=frozenset(make_targets(root / "Makefile")),
            dev_env_verbs=frozenset(dev_env_verbs(root / "dev-env.sh")),
        )


def nox_sessions(noxfile: Path) -> set[str]:
    """Session names the noxfile declares, read from its ``@nox.session`` decorators.

    Parsing instead of importing keeps the check free of nox itself and of the
    noxfile's side effects; ``name=`` wins over the function name, as in nox.
    """
    if not noxfile.is_file():
        return set()
    names: set[str] = set()
    for node in ast.walk(ast.parse(noxfile.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if ast.unparse(target) not in {"nox.session", "session"}:
                continue
            name = node.name
            if isinstance(decorator, ast.Call):
                for keyword in decorator.keywords:
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                        name = str(keyword.value.value)
            names.add(name)
    return names


_MAKE_RULE = re.compile(r"^([A-Za-z0-9_./%-][A-Za-z0-9_./% -]*?)\s*:(?![=:])")


def make_targets(makefile: Path) -> set[str]:
    """Targets the Makefile defines (``.PHONY`` and other special targets left out)."""
    if not makefile.is_file():
        return set()
    targets: set[str] = set()
    for line in makefile.read_text(encoding="utf-8").splitlines():
        match = _MAKE_RULE.match(line)
        if match:
            targets.update(t for t in match.group(1).split() if not t.startswith("."))
    return targets


_CASE_PATTERN = re.compile(r"^\s*([a-z][a-z0-9:_|-]*)\)")


def dev_env_verbs(script: Path) -> set[str]:
    """Verbs ``dev-env.sh`` accepts: the patterns of its ``case`` over the first argument."""
    if not script.is_file():
        return set()
    verbs: set[str] = set()
    for line in script.read_text(encoding="utf-8").splitlines():
        match = _CASE_PATTERN.match(line)
        if match:
            verbs.update(match.group(1).split("|"))
    return verbs


def _usage(parser: argparse.ArgumentParser) -> str:
    """A subcommand's positional arguments as a reader types them (``REV``, ``NAME``)."""
    words = []
    for action in parser._actions:
        if action.option_strings or isinstance(action, argparse._SubParsersAction):
            continue
        if action.nargs == argparse.REMAINDER:
            words.append("[ARGS...]")
        else:
            words.append(str(action.metavar or action.dest.upper()))
    return " ".join(words)


def _rows(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {choice.dest: str(choice.help or "") for choice in action._choices_actions}
        for name, sub in action.choices.items():
            command = f"{path} {name}"
            if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
                rows.extend(_rows(sub, command))
                continue
            usage = _usage(sub)
            rows.append((f"{command} {usage}".strip(), helps.get(name, "")))
    return rows


def command_table(parser: argparse.ArgumentParser | None = None) -> str:
    """The README's table of ``bot-db`` commands, one row per (sub)command, from the parser.

    The README holds it in a cog block (``cog -r README.md``), so the table
    lists the commands the parser has, each with its help line.
    """
    if parser is None:
        from bot_persistence.cli import build_parser

        parser = build_parser()
    lines = ["| command | what it does |", "|---|---|"]
    for command, help_text in _rows(parser, parser.prog):
        described = (help_text[:1].lower() + help_text[1:].rstrip(".")).replace("|", r"\|")
        lines.append(f"| `{command}` | {described} |")
    return "\n".join(lines) + "\n"
