"""docs-check against fixture docs: each check finds what it should, and names file:line."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import pytest

from bot_persistence.devdb import erd
from bot_persistence.devtools import docs_check
from bot_persistence.devtools.command_catalog import Catalog, CommandSpec
from bot_persistence.devtools.docs_check import Problem
from bot_persistence.errors import ConfigurationError, SeedError

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def fixture_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bot-db")
    parser.add_argument("--debug", action="store_true")
    commands = parser.add_subparsers(dest="command")
    up = commands.add_parser("up")
    up.add_argument("--backend")
    reset = commands.add_parser("reset")
    reset.add_argument("--yes", action="store_true")
    commands.add_parser("downgrade").add_argument("revision")
    shell = commands.add_parser("shell")
    shell.add_argument("psql_args", nargs=argparse.REMAINDER)
    snapshot = commands.add_parser("snapshot").add_subparsers(dest="action")
    snapshot.add_parser("save").add_argument("name")
    return parser


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A checkout with a noxfile, a Makefile and a dev-env.sh of known contents."""
    write(
        tmp_path / "noxfile.py",
        """
        import nox

        @nox.session(python=["3.10", "3.11"])
        def tests(session): ...

        @nox.session(name="docs-check")
        def docs_check(session): ...

        def helper(session): ...
        """,
    )
    write(
        tmp_path / "Makefile",
        """
        .PHONY: help up db-reset
        help: ## list
        \t@echo help
        up: ## up
        \tbot-db up
        db-reset db-wipe: ## two targets on one rule
        \tbot-db reset
        VAR := value
        """,
    )
    write(
        tmp_path / "dev-env.sh",
        """
        case "$verb" in
            up)
                bot-db up ;;
            db:reset|db-reset)
                bot-db reset ;;
            *)
                exit 2 ;;
        esac
        """,
    )
    return tmp_path


@pytest.fixture
def catalog(project: Path) -> Catalog:
    return Catalog.from_project(project, parser=fixture_parser())


def messages(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def test_catalog_reads_sessions_targets_and_verbs(catalog: Catalog) -> None:
    assert catalog.nox_sessions == {"tests", "docs-check"}
    assert catalog.make_targets == {"help", "up", "db-reset", "db-wipe"}
    assert catalog.dev_env_verbs == {"up", "db:reset", "db-reset"}
    assert set(catalog.bot_db.subcommands) == {"up", "reset", "downgrade", "shell", "snapshot"}
    assert catalog.bot_db.subcommands["shell"].passes_arguments_on


def test_commands_that_exist_pass(catalog: Catalog, tmp_path: Path) -> None:
    doc = write(
        tmp_path / "ok.md",
        """
        Run `bot-db up --backend embedded`, `bot-db --debug reset --yes` or
        `bot-db downgrade -1`; `bot-db COMMAND` runs any command.

        ```sh
        $ nox -s tests-3.11 docs-check && make up db-wipe
        ./dev-env.sh db:reset
        sh dev-env.sh up   # a comment with bot-db nonsense
        bot-db shell -- -c 'select 1'
        bot-db snapshot save NAME
        ```

        ```python
        bot-db nonsense  # not a shell block: not a command
        ```
        """,
    )
    assert docs_check.check_commands(doc, catalog) == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("`bot-db frobnicate`", "`bot-db frobnicate`: no such command"),
        ("`bot-db up --purge`", "`bot-db up --purge`: no such option"),
        ("`bot-db snapshot restore x`", "`bot-db snapshot restore`: no such command"),
        (
            "`nox -s migrate-roundtrip`",
            "`nox -s migrate-roundtrip`: the noxfile has no such session",
        ),
        ("`nox -s db -- up`", "`nox -s db`: the noxfile has no such session"),
        ("`make db-shell`", "`make db-shell`: the Makefile has no such target"),
        ("`./dev-env.sh db:shell`", "`./dev-env.sh db:shell`: dev-env.sh has no such verb"),
    ],
    ids=["subcommand", "option", "nested", "session", "db-session", "make", "dev-env"],
)
def test_a_command_that_does_not_exist_is_reported_with_its_line(
    catalog: Catalog, tmp_path: Path, line: str, expected: str
) -> None:
    doc = write(tmp_path / "doc.md", f"# Title\n\nText.\n{line}\n")
    problems = docs_check.check_commands(doc, catalog)
    assert len(problems) == 1
    assert str(problems[0]).startswith(f"{doc}:4: {expected}")


def test_nox_db_passes_its_arguments_to_bot_db_checks() -> None:
    spec = CommandSpec.from_parser(fixture_parser())
    catalog = Catalog(spec, frozenset({"db"}), frozenset(), frozenset())
    assert docs_check.check_words(["nox", "-s", "db", "--", "reset", "--yes"], catalog) == []
    assert docs_check.check_words(["nox", "-s", "db", "--", "nuke"], catalog) != []


def test_links_to_missing_files_and_anchors_are_reported(tmp_path: Path) -> None:
    write(tmp_path / "docs" / "other.md", "# Other page\n\n## Fixing `PortInUseError`\n")
    doc = write(
        tmp_path / "docs" / "index.md",
        """
        [fine](other.md) [anchor](other.md#fixing-portinuseerror) [web](https://example.com)
        [self](#index) [gone](missing.md)
        [bad anchor](other.md#nope)

        ```sh
        [inside code](nowhere.md)
        ```

        # Index
        """,
    )
    assert messages(docs_check.check_links(doc)) == [
        f"{doc}:2: link to 'missing.md': missing.md does not exist",
        f"{doc}:3: link to 'other.md#nope': other.md has no heading for #nope",
    ]


def test_repeated_headings_get_numbered_anchors() -> None:
    assert docs_check.anchors("# Fix\n## Fix\n## A `code` heading!\n") == {
        "fix",
        "fix-1",
        "a-code-heading",
    }


def test_env_example_agreeing_with_settings_passes() -> None:
    assert docs_check.check_env_example(REPO / ".env.example") == []


def test_env_example_disagreements_are_reported_both_ways(tmp_path: Path) -> None:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    text = text.replace("POSTGRES_PORT=5433", "POSTGRES_PORT=5432")
    text = text.replace("BOT_DB_POOL_SIZE=5\n", "")
    text += "BOT_DB_NOT_A_SETTING=1\n"
    env = write(tmp_path / ".env.example", text)
    found = messages(docs_check.check_env_example(env))
    port_line = text.splitlines().index("POSTGRES_PORT=5432") + 1
    assert any(
        m.startswith(f"{env}:{port_line}: POSTGRES_PORT=5432 but the default") for m in found
    )
    assert any("settings.py:" in m and "reads BOT_DB_POOL_SIZE" in m for m in found)
    assert any("BOT_DB_NOT_A_SETTING is not a setting" in m for m in found)
    assert len(found) == 3


def test_env_values_are_compared_as_settings_parse_them(tmp_path: Path) -> None:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    text = text.replace("BOT_DB_POOL_TIMEOUT=10", "BOT_DB_POOL_TIMEOUT=10.0")
    text = text.replace("BOT_DB_MIGRATE_ON_STARTUP=false", "BOT_DB_MIGRATE_ON_STARTUP=False")
    assert docs_check.check_env_example(write(tmp_path / ".env.example", text)) == []


def test_erd_in_step_with_the_models_passes_and_a_stale_one_fails(tmp_path: Path) -> None:
    page = write(tmp_path / "schema.md", f"# Schema\n\n{erd.BEGIN_MARKER}\n{erd.END_MARKER}\n")
    [stale] = docs_check.check_erd(page)
    assert (stale.line, "differs from what the code makes" in stale.message) == (3, True)
    assert erd.replace_block(page) is True
    assert docs_check.check_erd(page) == []
    assert erd.replace_block(page) is False


def test_erd_page_without_markers_is_reported(tmp_path: Path) -> None:
    page = write(tmp_path / "schema.md", "# Schema\n")
    assert "no ER diagram markers" in docs_check.check_erd(page)[0].message
    with pytest.raises(ConfigurationError, match="no diagram markers"):
        erd.replace_block(page)


def test_an_error_class_without_a_troubleshooting_heading_is_reported(tmp_path: Path) -> None:
    doc = write(
        tmp_path / "troubleshooting.md",
        """
        # Troubleshooting

        ## `ConfigurationError`: a setting is wrong

        SeedError is mentioned in prose, which is not an entry.

        ```
        ## SeedError inside a code block is not a heading
        ```
        """,
    )
    [problem] = docs_check.check_troubleshooting(doc, [ConfigurationError, SeedError])
    assert problem.path.name == "errors.py"
    assert "SeedError has no entry" in problem.message
    source = problem.path.read_text(encoding="utf-8").splitlines()
    assert source[problem.line - 1].startswith("class SeedError(")


def test_run_checks_on_a_fixture_checkout_names_relative_paths(project: Path) -> None:
    write(project / "README.md", "Run `make nope` and read [the guide](CONTRIBUTING.md).\n")
    write(project / ".env.example", (REPO / ".env.example").read_text(encoding="utf-8"))
    (project / "docs").mkdir()
    erd_page = project / "docs" / "schema.md"
    write(erd_page, f"{erd.BEGIN_MARKER}\n{erd.END_MARKER}\n")
    erd.replace_block(erd_page)
    catalog = Catalog.from_project(project, parser=fixture_parser())
    found = messages(docs_check.run_checks(project, catalog))
    assert found[:2] == [
        "README.md:1: `make nope`: the Makefile has no such target",
        "README.md:1: link to 'CONTRIBUTING.md': CONTRIBUTING.md does not exist",
    ]
    assert any(
        m.startswith("docs/troubleshooting.md:1: the troubleshooting page is missing")
        for m in found
    )


def test_main_prints_problems_and_exits_1(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(project / ".env.example", "NOT_A_SETTING=1\n")
    assert docs_check.main(["--root", str(project)]) == 1
    out = capsys.readouterr().out
    assert ".env.example:1: NOT_A_SETTING is not a setting" in out


def test_workflow_and_ci_script_commands_are_checked(catalog: Catalog, tmp_path: Path) -> None:
    workflow = write(
        tmp_path / "ci.yml",
        """
        jobs:
          tests:
            steps:
              - uses: actions/setup-python@v5
                with:
                  python-version: "3.11"
              - run: nox -s "tests-${{ matrix.python }}"
              - run: nox -s integration
              # - run: nox -s commented-out
        """,
    )
    assert messages(docs_check.check_script_commands(workflow, catalog)) == [
        f"{workflow}:8: `nox -s integration`: the noxfile has no such session "
        "(there are: docs-check, tests)"
    ]


def test_code_spans_and_links_that_wrap_across_lines_are_read_whole(
    catalog: Catalog, tmp_path: Path
) -> None:
    doc = write(
        tmp_path / "wrapped.md",
        """
        # Wrapped

        A sentence that ends with `bot-db
        frobnicate` and a [link whose text
        wraps](missing.md), then `make up`.
        """,
    )
    assert messages(docs_check.check_commands(doc, catalog)) == [
        f"{doc}:3: `bot-db frobnicate`: no such command "
        "(there are: downgrade, reset, shell, snapshot, up)"
    ]
    assert messages(docs_check.check_links(doc)) == [
        f"{doc}:4: link to 'missing.md': missing.md does not exist"
    ]
