"""Prove the docs tell the truth: `nox -s docs-check` runs this module.

Docs rot silently: a renamed option, a removed nox session, a new setting
nobody wrote down. Each check here compares what the docs say with what the
code has *now* (the argument parser, the noxfile, the Makefile, ``dev-env.sh``,
``Settings``, ``errors.py``, the models) and reports every disagreement as
``file:line: what is wrong; what to do``:

- ``.env.example`` and ``Settings`` name the same variables with the same defaults;
- every ``bot-db``, ``nox``, ``make`` and ``./dev-env.sh`` command the docs show exists;
- the ER diagram in ``docs/schema.md`` is the one the models generate;
- every internal link (file and ``#anchor``) resolves;
- every error class has a troubleshooting entry whose heading names it.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import shlex
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from pydantic import AliasChoices, SecretStr

from bot_persistence import errors
from bot_persistence.devdb import erd
from bot_persistence.devtools.command_catalog import Catalog, CommandSpec
from bot_persistence.devtools.command_coverage import check_readme_covers_commands
from bot_persistence.settings import Settings

__all__ = [
    "Problem",
    "check_commands",
    "check_env_example",
    "check_erd",
    "check_links",
    "check_script_commands",
    "check_troubleshooting",
    "default_docs",
    "main",
    "run_checks",
]

# Fenced blocks in these languages (or none) hold commands a reader types.
_SHELL_LANGUAGES = {"", "sh", "bash", "console", "shell", "shell-session", "zsh"}
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_LINK = re.compile(r"(?<!!)\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_EXTERNAL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One place where the docs and the code disagree."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


# --- reading Markdown ----------------------------------------------------------


def _blocks(text: str) -> Iterator[tuple[str, int, str]]:
    """``("code", line, text)`` for each line of a shell code block, ``("prose", first
    line, text)`` for each paragraph outside code blocks (lines joined by newlines,
    so a code span or a link may wrap as Markdown allows)."""
    fence: str | None = None
    shell = False
    paragraph: list[str] = []
    first = 0
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if fence is None and not match and line.strip():
            if not paragraph:
                first = number
            paragraph.append(line)
            continue
        if paragraph:
            yield "prose", first, "\n".join(paragraph)
            paragraph = []
        if fence is None and match:
            fence, shell = match.group(1), match.group(2).lower() in _SHELL_LANGUAGES
        elif fence is not None:
            if line.strip().startswith(fence) and line.strip().strip(fence[0]) == "":
                fence = None
            elif shell:
                yield "code", number, line
    if paragraph:
        yield "prose", first, "\n".join(paragraph)


def _line_of(paragraph: str, first: int, offset: int) -> int:
    return first + paragraph.count("\n", 0, offset)


def _shell_lines(text: str) -> Iterator[tuple[int, str]]:
    """Command lines a reader would type: shell code blocks, and code spans elsewhere."""
    for kind, number, block in _blocks(text):
        if kind == "code":
            yield number, re.sub(r"^\s*[$>]\s+", "", block)
            continue
        flat = block.replace("\n", " ")
        for span in _CODE_SPAN.finditer(flat):
            yield _line_of(block, number, span.start()), span.group(2).strip()


def _prose_lines(text: str, *, blank_code: bool = True) -> Iterator[tuple[int, str]]:
    """Lines outside code blocks, with code spans blanked out unless ``blank_code`` is false."""
    for kind, number, block in _blocks(text):
        if kind != "prose":
            continue
        if blank_code:
            block = _CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), block)
        for offset, line in enumerate(block.split("\n")):
            yield number + offset, line


def _prose_paragraphs(text: str) -> Iterator[tuple[int, str]]:
    """Paragraphs outside code blocks, code spans blanked (newlines kept, lengths kept)."""
    for kind, number, block in _blocks(text):
        if kind == "prose":
            yield number, _CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), block)


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


# --- the checks ------------------------------------------------------------------


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


def _check_words(words: Sequence[str], catalog: Catalog) -> list[str]:
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
    for number, line in _shell_lines(doc.read_text(encoding="utf-8")):
        for words in _segments(line):
            problems += [Problem(label, number, m) for m in _check_words(words, catalog)]
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
            problems += [Problem(label, number, m) for m in _check_words(words, catalog)]
    return problems


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The ``#anchors`` a Markdown file's headings give, duplicates numbered as GitHub does."""
    seen: dict[str, int] = {}
    result: set[str] = set()
    for _, line in _prose_lines(text, blank_code=False):
        match = _HEADING.match(line) if line.startswith("#") else None
        if match is None:
            continue
        slug = _slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        result.add(slug if count == 0 else f"{slug}-{count}")
    return result


def check_links(doc: Path, *, shown_as: Path | None = None) -> list[Problem]:
    """Every relative link in ``doc`` names an existing file (and heading, for ``#anchor``)."""
    label = shown_as or doc
    text = doc.read_text(encoding="utf-8")
    problems: list[Problem] = []
    for first, paragraph in _prose_paragraphs(text):
        for match in _LINK.finditer(paragraph.replace("\n", " ")):
            number = _line_of(paragraph, first, match.start())
            target = match.group(1)
            if _EXTERNAL.match(target):
                continue
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


def _env_name(field_name: str) -> str:
    alias = Settings.model_fields[field_name].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias or field_name).upper()


def _comparable(value: object) -> object:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    return value


def _source_line(path: Path, needle: str) -> int:
    if path.is_file():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if needle in line:
                return number
    return 1


def check_env_example(env_example: Path, *, shown_as: Path | None = None) -> list[Problem]:
    """``.env.example`` lists every ``Settings`` variable, only those, with the same defaults.

    A value is compared after ``Settings`` parses it, exactly as a ``.env`` would
    be read, so ``10`` and ``10.0`` agree and a blank ``DATABASE_URL=`` means unset.
    """
    label = shown_as or env_example
    settings_file = Path(inspect.getfile(Settings))
    listed: dict[str, tuple[int, str]] = {}
    problems: list[Problem] = []
    for number, raw in enumerate(env_example.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        if not sep:
            problems.append(Problem(label, number, f"{line!r} is not a NAME=value line"))
            continue
        listed[name.strip()] = (number, value.strip().strip("\"'"))
    defaults = Settings.from_values()
    known = {_env_name(field): field for field in Settings.model_fields}
    for env_name, field in known.items():
        if env_name not in listed:
            problems.append(
                Problem(
                    settings_file,
                    _source_line(settings_file, f'_env("{env_name}")'),
                    f"Settings reads {env_name}, which {label.name} does not list; "
                    f"add {env_name}={_comparable(getattr(defaults, field)) or ''} with a comment",
                )
            )
            continue
        number, value = listed[env_name]
        try:
            parsed = getattr(Settings.from_values(**{field: value}), field)
        except Exception as exc:  # a value Settings itself would refuse
            problems.append(Problem(label, number, f"{env_name}={value} is not valid: {exc}"))
            continue
        default = getattr(defaults, field)
        if _comparable(parsed) != _comparable(default):
            problems.append(
                Problem(
                    label,
                    number,
                    f"{env_name}={value} but the default in Settings is "
                    f"{_comparable(default)!r}; make them agree",
                )
            )
    for env_name, (number, _) in listed.items():
        if env_name not in known:
            problems.append(
                Problem(
                    label,
                    number,
                    f"{env_name} is not a setting (Settings does not read it); "
                    "remove it or add the field",
                )
            )
    return problems


def check_erd(schema_doc: Path, *, shown_as: Path | None = None) -> list[Problem]:
    """The diagram in ``schema_doc`` is the one the models generate."""
    label = shown_as or schema_doc
    if not schema_doc.is_file():
        message = "the schema page is missing; create it and run `bot-db erd --write`"
        return [Problem(label, 1, message)]
    found = erd.current_block(schema_doc.read_text(encoding="utf-8"))
    if found is None:
        message = "no ER diagram markers; add them, then run `bot-db erd --write`"
        return [Problem(label, 1, message)]
    block, line = found
    if block != erd.diagram_block():
        return [
            Problem(
                label,
                line,
                "the ER diagram differs from the models; run `bot-db erd --write` and commit it",
            )
        ]
    return []


def error_classes() -> list[type[errors.BotPersistenceError]]:
    """Every error class ``errors.py`` exports."""
    classes = [getattr(errors, name) for name in errors.__all__]
    return [c for c in classes if isinstance(c, type) and issubclass(c, errors.BotPersistenceError)]


def check_troubleshooting(
    doc: Path,
    classes: Iterable[type[BaseException]] | None = None,
    *,
    shown_as: Path | None = None,
) -> list[Problem]:
    """Every error class has an entry in ``doc`` whose heading contains its name."""
    label = shown_as or doc
    wanted = list(classes) if classes is not None else list(error_classes())
    if not doc.is_file():
        return [Problem(label, 1, "the troubleshooting page is missing")]
    text = doc.read_text(encoding="utf-8")
    headings = [line for _, line in _prose_lines(text, blank_code=False) if _HEADING.match(line)]
    problems: list[Problem] = []
    for cls in wanted:
        pattern = re.compile(rf"\b{re.escape(cls.__name__)}\b")
        if not any(pattern.search(h) for h in headings):
            source = Path(inspect.getfile(cls))
            problems.append(
                Problem(
                    source,
                    _source_line(source, f"class {cls.__name__}("),
                    f"{cls.__name__} has no entry in {label}; add a heading naming it, "
                    "with what the message means and the fix",
                )
            )
    return problems


# --- running them ------------------------------------------------------------------


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
    scripts = [root / ".ci" / "run", *sorted((root / ".github" / "workflows").glob("*.y*ml"))]
    for script in scripts:
        if script.is_file():
            problems += check_script_commands(script, catalog, shown_as=rel(script))
    readme = root / "README.md"
    if readme.is_file():
        problems += [
            Problem(Path("README.md"), line, message)
            for line, message in check_readme_covers_commands(readme, catalog.bot_db)
        ]
    problems += check_env_example(root / ".env.example", shown_as=Path(".env.example"))
    problems += check_erd(root / "docs" / "schema.md", shown_as=Path("docs/schema.md"))
    problems += check_troubleshooting(
        root / "docs" / "troubleshooting.md", shown_as=Path("docs/troubleshooting.md")
    )
    unique = dict.fromkeys(dataclasses.replace(p, path=rel(p.path)) for p in problems)
    return list(unique)


def main(argv: Sequence[str] | None = None) -> int:
    """Print every problem as ``file:line: message``; exit 1 when there is any."""
    parser = argparse.ArgumentParser(
        prog="docs-check", description="Check the docs against the code."
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the checkout to check")
    args = parser.parse_args(argv)
    problems = run_checks(args.root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"docs-check: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"docs-check: {len(default_docs(args.root))} docs, .env.example, ER diagram: all agree")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
