"""Bytes from outside are bytes: settings, ``.env``, paths and names that are not UTF-8.

A value from the environment reaches Python with its undecodable bytes kept as
lone surrogates; git's answers are read the same way. Each such value either
becomes our one-line configuration error (a setting no connection can carry)
or is shown escaped (``caf\\xe9``), never a traceback on a strict stream.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot_persistence.cli.output import Console, escaped
from bot_persistence.errors import ConfigurationError, InvalidSettingError
from bot_persistence.settings import Settings

LATIN = b"caf\xe9".decode("utf-8", "surrogateescape")

TEXT_SETTINGS = [
    "POSTGRES_PASSWORD",
    "POSTGRES_USER",
    "POSTGRES_DB",
    "POSTGRES_HOST",
    "POSTGRES_PORT",
    "POSTGRES_IMAGE",
    "DATABASE_URL",
    "BOT_DB_BACKEND",
    "BOT_DB_ENVIRONMENT",
    "BOT_DB_COMPOSE_PROJECT",
    "BOT_DB_POOL_SIZE",
]


def strict_console() -> tuple[Console, io.TextIOWrapper, io.TextIOWrapper]:
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    return Console(out, err=err), out, err


def written(stream: io.TextIOWrapper) -> str:
    stream.flush()
    raw = stream.buffer
    assert isinstance(raw, io.BytesIO)
    return raw.getvalue().decode()


@pytest.mark.parametrize("name", TEXT_SETTINGS)
def test_a_setting_that_is_not_utf8_is_our_configuration_error(
    name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    value = f"postgresql://bot:s3{LATIN}@127.0.0.1:1/bot" if name == "DATABASE_URL" else LATIN
    monkeypatch.setenv(name, value)
    with pytest.raises(InvalidSettingError) as refused:
        Settings()
    assert str(refused.value).startswith(f"{name}: ")
    assert "\udce9" not in str(refused.value) and "caf" not in str(refused.value)
    assert isinstance(refused.value, ValueError) and isinstance(refused.value, ConfigurationError)


def test_a_bad_setting_in_python_is_our_error_not_pydantics() -> None:
    with pytest.raises(InvalidSettingError, match=r"^POSTGRES_PORT: .*fix it in \.env") as refused:
        Settings.from_values(postgres_port=70000)
    assert "70000" not in str(refused.value)
    assert refused.value.exit_code == 2


def test_an_env_file_that_is_not_utf8_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_bytes(b"# caf\xe9\nPOSTGRES_PORT=6543\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidSettingError, match=r"\.env is not UTF-8 text \(byte 0xe9"):
        Settings()


def test_the_command_line_says_one_line_for_a_password_that_is_not_utf8(tmp_path: Path) -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("POSTGRES_", "BOT_DB_")) and key != "DATABASE_URL"
    }
    environment.update(POSTGRES_PASSWORD=LATIN, PYTHONIOENCODING="utf-8:strict")
    done = subprocess.run(
        [sys.executable, "-m", "bot_persistence", "url"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == b""
    assert done.stderr.decode().splitlines() == [
        "bot-db: error: POSTGRES_PASSWORD: is not UTF-8 text (it holds bytes no character "
        "encodes); fix it in .env or the environment"
    ]


def test_escaped_shows_the_bytes_as_git_does() -> None:
    assert escaped(LATIN) == "caf\\xe9"
    assert escaped("café ☃") == "café ☃"
    assert escaped("plain") == "plain"


def test_console_lines_errors_and_documents_survive_a_strict_stream() -> None:
    console, out, err = strict_console()
    console.line(f"branch {LATIN}")
    console.ok(f"database of {LATIN}")
    console.field("branch", LATIN)
    console.error(f"no such snapshot {LATIN!r}")
    console.json({LATIN: [LATIN, {"path": Path(f"/tmp/{LATIN}")}]})
    shown = written(out)
    assert "branch caf\\xe9" in shown and "database of caf\\xe9" in shown
    assert '"caf\\\\xe9": [' in shown and '"/tmp/caf\\\\xe9"' in shown
    assert "caf\\xe9" in written(err)
