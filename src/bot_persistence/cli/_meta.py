"""Commands about ``bot-db`` itself: ``help [COMMAND]`` and ``completion SHELL``.

They read the parser, not the settings, so they work in a broken
configuration too (``_main`` calls them before reading ``.env``). Completion
scripts are generated from the same parser by shtab, so a new command or
option completes the moment it exists.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from bot_persistence.cli.output import Console
from bot_persistence.errors import ConfigurationError

__all__ = ["SHELLS", "MetaHandler", "cmd_completion", "cmd_help", "find_subparser"]

MetaHandler = Callable[[argparse.Namespace, argparse.ArgumentParser, Console], int]

#: Shells ``bot-db completion`` writes a script for.
SHELLS = ("bash", "zsh", "fish")


def find_subparser(parser: argparse.ArgumentParser, path: list[str]) -> argparse.ArgumentParser:
    """The parser of ``bot-db PATH...`` (``["snapshot", "save"]``), or a usage error."""
    current = parser
    for depth, name in enumerate(path):
        choices: dict[str, argparse.ArgumentParser] = {}
        for action in current._actions:
            if isinstance(action, argparse._SubParsersAction):
                choices = dict(action.choices)
        if name not in choices:
            where = " ".join(["bot-db", *path[:depth]])
            known = ", ".join(sorted(choices)) or "none"
            raise ConfigurationError(
                f"{where} has no command {name!r}; its commands: {known} (see `bot-db help`)"
            )
        current = choices[name]
    return current


def cmd_help(args: argparse.Namespace, parser: argparse.ArgumentParser, out: Console) -> int:
    """Show help for bot-db, or for COMMAND (`bot-db help snapshot save`)."""
    out.line(find_subparser(parser, list(args.topic)).format_help().rstrip("\n"))
    return 0


def cmd_completion(args: argparse.Namespace, parser: argparse.ArgumentParser, out: Console) -> int:
    """Print a shell completion script for bash, zsh or fish (see the README to install it)."""
    try:
        import shtab  # only this command needs it: the `completion` extra
    except ImportError:
        raise ConfigurationError(
            "bot-db completion needs shtab, which is not installed: "
            "pip install 'bot-persistence[completion]'"
        ) from None

    out.line(shtab.complete(parser, shell=args.shell).rstrip("\n"))
    return 0
