"""The command-line conventions people expect: --version, help, completion, options anywhere."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from bot_persistence import cli
from bot_persistence.cli import _parser
from bot_persistence.cli._server_commands import cmd_url
from bot_persistence.settings import Settings
from tests.helpers import bot_db


def local(**values: object) -> Settings:
    """Settings of these values only, one database whatever the checkout's branch."""
    return Settings.from_values(branch_databases=False, **values)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser by its path (``snapshot save``), nested ones included."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {k}": v for k, v in subcommands(sub).items()})
    return found


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings}


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = bot_db(None, "--version")
    assert code == 0
    assert capsys.readouterr().out.strip() == f"bot-db {version('bot-persistence')}"


@pytest.mark.parametrize(
    "argv",
    [
        ["-v", "url"],
        ["url", "-v"],
        ["url", "--debug", "-v"],
        ["--debug", "url", "--verbose"],
    ],
    ids=["before", "after", "both-after", "split"],
)
def test_global_options_are_accepted_before_and_after_the_command(argv: list[str]) -> None:
    args = cli.build_parser().parse_args(argv)
    assert args.verbose is ("-v" in argv or "--verbose" in argv)
    assert args.debug is ("--debug" in argv)


def test_every_command_takes_the_global_options() -> None:
    for path, sub in subcommands(cli.build_parser()).items():
        assert {"-v", "--verbose", "--debug", "--json"} <= options_of(sub), path


def test_a_global_option_after_a_nested_command_is_not_lost() -> None:
    args = cli.build_parser().parse_args(["--debug", "snapshot", "list", "-v"])
    assert (args.debug, args.verbose) == (True, True)


def test_status_v_is_no_longer_an_error() -> None:
    code, _, err = bot_db(local(), "url", "-v")
    assert (code, err) == (0, "")


def test_shared_options_are_the_same_wherever_they_appear() -> None:
    found = subcommands(cli.build_parser())
    backends = {
        path: next(a.choices for a in sub._actions if "--backend" in a.option_strings)
        for path, sub in found.items()
        if "--backend" in options_of(sub)
    }
    assert set(backends) == {"up", "down", "status", "reset", "branch reset", "shell"}
    assert len({tuple(choices or ()) for choices in backends.values()}) == 1


def test_a_command_is_one_entry_in_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = _parser.Command("hello", cmd_url, ("backend",))
    monkeypatch.setattr(_parser, "COMMANDS", (*_parser.COMMANDS, extra))
    hello = subcommands(_parser.build_parser())["hello"]
    assert {"--backend", "--json", "-v", "--debug"} <= options_of(hello)
    assert (
        hello.description
        == "Print the connection URL with its password, to paste into .env or a tool."
    )


def test_help_lists_the_commands() -> None:
    code, out, _ = bot_db(None, "help")
    assert code == 0
    assert out.startswith("usage: bot-db")
    assert "migrations" in out


def test_help_command_shows_that_commands_options() -> None:
    code, out, _ = bot_db(None, "help", "snapshot", "save")
    assert code == 0
    assert out.startswith("usage: bot-db snapshot save")
    assert "--yes" in out


def test_help_for_an_unknown_command_is_one_line_exit_2() -> None:
    code, _, err = bot_db(None, "help", "launch")
    assert code == 2
    assert "no command 'launch'" in err
    assert err.count("\n") == 1


def test_help_works_with_a_broken_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_PORT", "not-a-port")
    assert bot_db(None, "help", "up")[0] == 0


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_names_every_command(shell: str) -> None:
    code, out, _ = bot_db(None, "completion", shell)
    assert code == 0
    top = [path for path in subcommands(cli.build_parser()) if " " not in path]
    for name in top:
        assert name in out, f"{shell} completion lacks {name}"
    assert "--backend" in out


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_header_and_the_readme_name_the_same_path(shell: str) -> None:
    from bot_persistence.cli._meta import INSTALL_PATHS
    from bot_persistence.project import project_root

    code, out, _ = bot_db(None, "completion", shell)
    assert code == 0
    assert "AUTOMATICALLY GENERATED" not in out and "Usage:" not in out
    install = f"bot-db completion {shell} > {INSTALL_PATHS[shell]}"
    assert install in out
    assert install in (project_root() / "README.md").read_text(encoding="utf-8")


def test_completion_without_shtab_names_the_extra_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "shtab", None)  # as if the extra were not installed
    code, out, err = bot_db(None, "completion", "bash")
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "pip install 'bot-persistence[completion]'" in lines[0]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_is_valid_for_its_shell(shell: str, tmp_path: Path) -> None:
    program = shutil.which(shell)
    if program is None:
        pytest.skip(f"{shell} is not installed here")
    script = tmp_path / f"bot-db.{shell}"
    script.write_text(bot_db(None, "completion", shell)[1])
    checked = subprocess.run(
        [program, "-n", str(script)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


def test_url_json_is_a_document() -> None:
    code, out, _ = bot_db(local(postgres_password="pa55"), "url", "--json")
    assert code == 0
    assert json.loads(out) == {"url": "postgresql://bot:pa55@127.0.0.1:5433/bot"}


def test_migrate_sql_prints_the_upgrade_without_connecting() -> None:
    # Port 1 on loopback: nothing listens, so a connection attempt would fail.
    offline = local(postgres_port=1)
    code, out, err = bot_db(offline, "migrate", "--sql")
    assert (code, err) == (0, "")
    assert "CREATE TABLE users" in out
    assert "INSERT INTO alembic_version" in out
    code, out, _ = bot_db(offline, "migrate", "--sql", "--json")
    assert code == 0
    assert "CREATE TABLE users" in json.loads(out)["sql"]


def test_migrate_sql_to_an_unknown_revision_is_one_line() -> None:
    code, _, err = bot_db(local(postgres_port=1), "migrate", "--sql", "--to", "nope")
    assert code == 2
    assert err.startswith("bot-db: error: cannot write the SQL for 'nope'")
    assert err.count("\n") == 1


def test_shell_takes_backend_itself_instead_of_passing_it_to_psql() -> None:
    args, extra = cli.build_parser().parse_known_args(
        ["shell", "--backend", "compose", "-At", "-c", "SELECT 1"]
    )
    assert args.backend == "compose"
    assert "--backend" not in [*extra, *args.psql_args]
    assert "compose" not in [*extra, *args.psql_args]
