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

    out.line(_with_our_header(shtab.complete(parser, shell=args.shell), args.shell))
    return 0


#: Where each shell loads a completion script from, as the README installs it.
INSTALL_PATHS = {
    "bash": "~/.local/share/bash-completion/completions/bot-db",
    "zsh": "~/.zfunc/_bot-db",
    "fish": "~/.config/fish/completions/bot-db.fish",
}


def _with_our_header(script: str, shell: str) -> str:
    """``script`` with shtab's usage comment replaced by the path the README names.

    shtab suggests paths of its own (``~/.local/share/bash_completion``, which
    bash-completion does not load by itself); one place says where it goes.
    """
    lines = script.rstrip("\n").splitlines()
    start = next((i for i, line in enumerate(lines) if "AUTOMATICALLY GENERATED" in line), None)
    if start is not None:
        end = start
        while end < len(lines) and lines[end].startswith("#"):
            end += 1
        extra = " (with fpath+=(~/.zfunc) before compinit)" if shell == "zsh" else ""
        lines[start:end] = [
            "# bot-db's completion script, generated from its parser by shtab. Install:",
            f"#   bot-db completion {shell} > {INSTALL_PATHS[shell]}{extra}",
        ]
    return "\n".join(lines)
