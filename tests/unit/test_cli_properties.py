"""Property tests of the command line over generated configuration.

Whatever ``.env`` holds (passwords with any characters, URLs well or badly
formed, bytes that are not UTF-8) and whatever command runs against it, the
command ends with exit 0, 1 or 2, at most one error line, no traceback, and
the password nowhere in its output; only ``bot-db url`` prints it, as a URL
libpq reads back to the same password. No server runs here: the port is free,
so every command that needs one fails fast, the way a contributor sees it
before ``bot-db up``.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.conninfo import conninfo_to_dict

from bot_persistence import cli
from bot_persistence.provision.base import free_port
from bot_persistence.settings import Settings
from tests.helpers import bot_db

#: Both ends of every generated password carry a marker, so a partial leak shows too.
HEAD, TAIL = "S3cr", "T0p9"
#: Commands that read the configuration and, but for the missing server, would act.
COMMANDS = [
    ["check"],
    ["check", "--json"],
    ["status"],
    ["status", "--json"],
    ["url"],
    ["migrate"],
    ["seed"],
    ["up"],
    ["reset", "--yes"],
    ["smoke"],
    ["shell", "-c", "SELECT 1"],
    ["snapshot", "list"],
    ["downgrade", "base", "--yes"],
]
#: Variables from the machine running the tests that would change what is read.
CLEARED = ("DATABASE_URL", "PGHOST", "PGHOSTADDR", "PGSERVICE", "PGPASSWORD", "PGPORT")

middles = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
passwords = middles.map(lambda middle: f"{HEAD}{middle}{TAIL}")


def _dotenv_quoted(value: str) -> str:
    """``value`` as a double-quoted .env value that reads back unchanged."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


@st.composite
def configurations(draw: st.DrawFn) -> tuple[bytes, str]:
    """A .env file's bytes and the password in it."""
    password = draw(passwords)
    port = draw(st.sampled_from(["PORT", "PORT", "PORT", "notaport", "99999"]))
    lines = [
        "BOT_DB_BACKEND=external",
        "BOT_DB_CONNECT_TIMEOUT=1",
        "BOT_DB_STARTUP_TIMEOUT=0.2",
        "BOT_DB_DATA_DIR=DATADIR",
    ]
    form = draw(st.sampled_from(["parts", "url-quoted", "url-raw"]))
    host = draw(st.sampled_from(["127.0.0.1", "localhost"]))
    if form == "parts":
        lines += [f"POSTGRES_PASSWORD={_dotenv_quoted(password)}", f"POSTGRES_PORT={port}"]
        lines.append(f"POSTGRES_HOST={host}")
    else:
        secret = quote(password, safe="") if form == "url-quoted" else password
        url = f"postgresql://bot:{secret}@{host}:{port}/bot"
        lines.append(f"DATABASE_URL={_dotenv_quoted(url)}")
    content = ("\n".join(lines) + "\n").encode()
    if draw(st.booleans()) and draw(st.booleans()):
        content += draw(st.sampled_from([b"JUNK=\xff\xfe\n", b"\x80\n", b"X=\xc3\x28\n"]))
    return content, password


@given(config=configurations(), command=st.sampled_from(COMMANDS))
def test_every_command_gives_one_line_an_exit_code_and_never_the_password(
    config: tuple[bytes, str], command: list[str]
) -> None:
    content, password = config
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as env:
        root = Path(folder)
        content = content.replace(b"PORT", str(free_port()).encode()).replace(
            b"DATADIR", str(root / "devdb").encode()
        )
        (root / ".env").write_bytes(content)
        for name in [*CLEARED, *(n for n in os.environ if n.startswith(("POSTGRES_", "BOT_DB_")))]:
            env.delenv(name, raising=False)
        env.chdir(root)
        out, err = io.StringIO(), io.StringIO()
        code = cli.main(command, stdout=out, stderr=err, stdin=io.StringIO())
    printed, errors = out.getvalue(), err.getvalue()
    assert code in (0, 1, 2), (command, code, errors)
    assert len(errors.splitlines()) <= 1, errors
    assert "Traceback" not in printed + errors
    if command == ["url"] and code == 0:
        assert HEAD not in errors and TAIL not in errors
        assert conninfo_to_dict(printed.strip())["password"] == password
    else:
        for marker in (HEAD, TAIL):
            assert marker not in printed + errors, (command, printed, errors)


#: Snapshot names: any code point, wrapped in whitespace, newlines and path separators.
_WRAPPERS = ["", " ", "\n", "\t", "/", "\\", "..", "../", "\x00", "\u2028"]
snapshot_names = st.one_of(
    st.text(st.characters(exclude_categories=()), min_size=1, max_size=30),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True),
    st.tuples(
        st.sampled_from(_WRAPPERS),
        st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True),
        st.sampled_from(_WRAPPERS),
    ).map("".join),
)


@given(name=snapshot_names, action=st.sampled_from(["save", "restore", "delete"]))
def test_a_snapshot_name_outside_the_rule_is_a_usage_error_before_anything_runs(
    name: str, action: str
) -> None:
    settings = Settings.from_values(
        postgres_port=free_port(), backend="external", connect_timeout=1, branch_databases=False
    )
    code, out, err = bot_db(settings, "snapshot", action, name, "--yes")
    plain = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) is not None and ".." not in name
    assert code in (1, 2), (name, code, err)
    # A name that starts with "-" reads as an option: argparse's own usage error (exit 2).
    assert len(err.splitlines()) == 1 or name.startswith("-"), (name, code, err)
    assert "Traceback" not in out + err
    if not plain:
        assert code == 2, (name, err)
    else:
        assert code == 1, (name, err)  # a valid name: the missing server is what fails


def _git(root: Path, *args: str | bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)


@pytest.fixture(scope="module")
def checkout_root() -> Iterator[Path]:
    """A minimal project checkout with one commit on ``main``."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "alembic").mkdir()
        (root / "alembic.ini").write_text("[alembic]\n")
        (root / "alembic" / "env.py").write_text("")
        for args in (
            ["init", "-q", "-b", "main"],
            ["-c", "user.email=dev@example.invalid", "-c", "user.name=Dev", "add", "-A"],
            ["-c", "user.email=dev@example.invalid", "-c", "user.name=Dev", "commit", "-qm", "x"],
        ):
            assert _git(root, *args).returncode == 0
        yield root


branch_bytes = st.one_of(
    st.binary(min_size=1, max_size=40),
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40).map(str.encode),
)


@given(raw=branch_bytes, command=st.sampled_from([["url"], ["status"], ["branch", "list"]]))
def test_any_branch_name_git_accepts_gives_every_command_one_line_or_none(
    checkout_root: Path, raw: bytes, command: list[str]
) -> None:
    if b"\0" in raw or _git(checkout_root, "check-ref-format", "--branch", raw).returncode:
        return  # not a branch name git would take
    if _git(checkout_root, "checkout", "-q", "-B", raw).returncode != 0:
        return
    settings = Settings.from_values(
        postgres_port=free_port(), backend="embedded", data_dir=checkout_root / ".devdb",
        connect_timeout=1, branch_databases=True,
    )  # fmt: skip
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    with pytest.MonkeyPatch.context() as env:
        env.chdir(checkout_root)
        code = cli.main(command, settings=settings, stdout=out, stderr=err, stdin=io.StringIO())
    out.flush()
    err.flush()
    printed = out.buffer.getvalue().decode()
    errors = err.buffer.getvalue().decode()
    assert code in (0, 1, 2), (raw, command, errors)
    assert len(errors.splitlines()) <= 1 and "Traceback" not in printed + errors
    if command == ["url"]:
        assert (code == 0 and "__br_" in printed) or raw == b"main"
