"""Every command the docs and CI scripts show exists: bot-db, nox, make, dev-env.sh.

A command line is split into simple commands (``&&``, ``;``, ``|``) and each is
compared with the :class:`Catalog` read from the code at check time: an
unknown ``bot-db`` subcommand or option, a nox session the noxfile lacks, a
make target or a ``dev-env.sh`` verb that is not there.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterator, Sequence
from pathlib import Path

from bot_persistence.devtools.command_catalog import Catalog, CommandSpec
from bot_persistence.devtools.docs_check.markdown import Document
from bot_persistence.devtools.docs_check.problem import Problem

__all__ = ["check_commands", "check_script_commands", "check_words"]


def _segments(line: str) -> Iterator[list[str]]:
    """The simple commands in a shell line, each as a list of words."""
    for part in re.split(r"&&|\|\||[;|]", line):
        try:
            words = shlex.split(part, comments=True)
        except ValueError:
            words = part.split()
        # Environment assignments in front of a command (`CI=1 nox`) are not the command.
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words.pop(0)
        if words:
            yield words


def _placeholder(word: str) -> bool:
    """``COMMAND``, ``<rev>``, ``...``, ``${{ matrix.python }}``: a word filled in later."""
    return (
        word.isupper() or word.startswith("<") or "..." in word or "$" in word or word in {"[", "]"}
    )


def _check_bot_db(words: Sequence[str], spec: CommandSpec) -> list[str]:
    """Problems with ``bot-db WORDS``: an unknown subcommand or option."""
    found: list[str] = []
    path = ["bot-db"]
    current = spec
    for word in words:
        if word == "--":
            break
        if word.startswith("-") and not re.match(r"^-(\d+)?$", word):
            option = word.split("=", 1)[0]
            if option not in current.options and option not in spec.options:
                found.append(f"`{' '.join(path)} {option}`: no such option")
            continue
        if current.subcommands:
            if _placeholder(word):
                break
            if word not in current.subcommands:
                found.append(
                    f"`{' '.join(path)} {word}`: no such command "
                    f"(there are: {', '.join(sorted(current.subcommands))})"
                )
                break
            current = current.subcommands[word]
            path.append(word)
            continue
        if current.passes_arguments_on:
            break
    return found


def _session_exists(name: str, sessions: frozenset[str]) -> bool:
    # `tests-3.12` names one Python of a parametrised session.
    base = re.sub(r"-\d+(\.\d+)*$", "", name)
    return name in sessions or base in sessions


def _check_nox(words: Sequence[str], catalog: Catalog) -> list[str]:
    found: list[str] = []
    named: list[str] = []
    rest = list(words)
    while rest:
        word = rest.pop(0)
        if word == "--":
            break
        if word in {"-s", "--session", "--sessions", "-e"}:
            while rest and not rest[0].startswith("-"):
                named.append(rest.pop(0))
        elif word.startswith("--session=") or word.startswith("--sessions="):
            named.extend(word.split("=", 1)[1].split(","))
    for name in named:
        if _placeholder(name):
            continue
        if not _session_exists(name, catalog.nox_sessions):
            found.append(
                f"`nox -s {name}`: the noxfile has no such session "
                f"(there are: {', '.join(sorted(catalog.nox_sessions))})"
            )
    # `nox -s db -- ARGS` runs `bot-db ARGS`: check those too.
    if named == ["db"] and rest:
        found.extend(_check_bot_db(rest, catalog.bot_db))
    return found


def check_words(words: Sequence[str], catalog: Catalog) -> list[str]:
    """Problems with one simple command, ``words[0]`` being the program."""
    command, args = Path(words[0]).name, list(words[1:])
    if command in {"sh", "bash", "dash"} and args and args[0].endswith("dev-env.sh"):
        command, args = "dev-env.sh", args[1:]
    if command == "bot-db":
        return _check_bot_db(args, catalog.bot_db)
    if command == "nox":
        return _check_nox(args, catalog)
    if command == "make":
        targets = [w for w in args if not w.startswith("-") and "=" not in w]
        return [
            f"`make {t}`: the Makefile has no such target"
            for t in targets
            if not _placeholder(t) and t not in catalog.make_targets
        ]
    if command == "dev-env.sh" and args and not _placeholder(args[0]):
        verb = args[0]
        if verb not in catalog.dev_env_verbs and not verb.startswith("-"):
            return [f"`./dev-env.sh {verb}`: dev-env.sh has no such verb"]
    return []


def check_commands(doc: Path, catalog: Catalog, *, shown_as: Path | None = None) -> list[Problem]:
    """Every ``bot-db``, ``nox``, ``make`` and ``dev-env.sh`` command in ``doc`` exists."""
    label = shown_as or doc
    problems: list[Problem] = []
    document = Document(doc.read_text(encoding="utf-8"))
    for number, line in itertools.chain(document.shell_lines(), document.code_spans()):
        for words in _segments(line):
            problems += [Problem(label, number, m) for m in check_words(words, catalog)]
    return problems


_RUN_KEY = re.compile(r"^\s*(?:-\s+)?run:\s*")


def check_script_commands(
    script: Path, catalog: Catalog, *, shown_as: Path | None = None
) -> list[Problem]:
    """The commands a CI script or workflow runs exist too (``.ci/run``, ``run:`` steps).

    Every line is read as a shell line, with a workflow's ``run:`` key taken
    off; anything else on a line (YAML keys, shell keywords) names no command
    we know and is passed over.
    """
    label = shown_as or script
    problems: list[Problem] = []
    for number, raw in enumerate(script.read_text(encoding="utf-8").splitlines(), start=1):
        line = _RUN_KEY.sub("", raw).strip()
        if line.startswith("#"):
            continue
        for words in _segments(line):
            problems += [Problem(label, number, m) for m in check_words(words, catalog)]
    return problems
