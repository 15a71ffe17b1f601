"""The security posture that docs/data-hygiene.md's "Security" section states, checked.

Each test names the sentence of that section it proves; the last test proves
the section still says it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import psutil
import pytest
from pydantic import SecretStr

from bot_persistence.project import project_root
from bot_persistence.settings import Settings
from tests.helpers import PASSWORD, bot_db, scalar
from tests.integration.test_embedded_lifecycle import cluster_of, dev_settings

__all__ = ["dev_settings"]  # the fixture, imported for this module's tests

SECTION = project_root() / "docs" / "data-hygiene.md"


@pytest.fixture
def running(dev_settings: Settings) -> Settings:
    """A dev server made under umask 000, with the password in this process's environment."""
    old_umask = os.umask(0)
    os.environ["POSTGRES_PASSWORD"] = PASSWORD
    try:
        code, out, err = bot_db(dev_settings, "up")
        assert code == 0, out + err
    finally:
        os.umask(old_umask)
        del os.environ["POSTGRES_PASSWORD"]
    return dev_settings


def _server_processes(settings: Settings) -> list[psutil.Process]:
    pid = cluster_of(settings).running_pid()
    assert pid is not None
    postmaster = psutil.Process(pid)
    return [postmaster, *postmaster.children(recursive=True)]


def test_the_server_listens_on_127_0_0_1_only_and_has_no_socket(running: Settings) -> None:
    assert scalar(running, "SHOW listen_addresses") == "127.0.0.1"
    assert scalar(running, "SHOW unix_socket_directories") == ""
    listening = [
        conn.laddr
        for conn in psutil.Process(cluster_of(running).running_pid()).net_connections("all")
        if conn.status == psutil.CONN_LISTEN or conn.family == psutil.AF_UNIX
    ]
    assert listening, "the server listens nowhere?"
    assert all(getattr(addr, "ip", None) == "127.0.0.1" for addr in listening), listening


def test_every_login_is_checked_with_scram(running: Settings) -> None:
    methods = scalar(running, "SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules")
    assert methods == "scram-sha-256"
    assert scalar(running, "SHOW password_encryption") == "scram-sha-256"
    stored = scalar(running, "SELECT left(rolpassword, 13) FROM pg_authid WHERE rolname = 'bot'")
    assert stored == "SCRAM-SHA-256"
    wrong = running.model_copy(update={"postgres_password": SecretStr("not-the-password")})
    assert bot_db(wrong, "check")[0] == 1


def test_the_offline_image_checks_every_tcp_login_with_the_host_method() -> None:
    entrypoint = (project_root() / "compose" / "image" / "docker-entrypoint.sh").read_text()
    initdb = re.search(r"^\s*initdb .*?(?<!\\)\n", entrypoint, re.MULTILINE | re.DOTALL)
    assert initdb is not None
    assert '--auth-host="$POSTGRES_HOST_AUTH_METHOD"' in initdb.group(0)
    assert "--auth-host=trust" not in entrypoint
    assert "host all all all %s" in entrypoint


def test_folders_are_0700_under_any_umask_and_no_password_file_is_left(running: Settings) -> None:
    for folder in (running.data_dir, running.data_dir / "pgdata"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    assert (running.data_dir / "lock").stat().st_mode & 0o777 == 0o600
    assert not list(running.data_dir.glob("pw-*"))
    leaked = [
        path
        for path in running.data_dir.rglob("*")
        if path.is_file() and "pgdata" not in path.parts and PASSWORD.encode() in path.read_bytes()
    ]
    assert leaked == [], "the password is in a file outside the server's own data"


def test_no_server_process_has_the_password_in_its_environment(running: Settings) -> None:
    for process in _server_processes(running):
        environ = Path(f"/proc/{process.pid}/environ").read_bytes()
        assert PASSWORD.encode() not in environ, process
        assert b"POSTGRES_PASSWORD" not in environ and b"PGPASSWORD" not in environ, process


def test_shell_gives_psql_the_password_in_memory_not_in_its_environment(
    dev_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    awkward = dev_settings.model_copy(
        update={"postgres_password": SecretStr("a:b\\c \N{SNOWMAN}:")}
    )
    assert bot_db(awkward, "up")[0] == 0
    seen: dict[str, Any] = {}
    real_run = subprocess.run

    def spy(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        seen.update(kwargs)
        return real_run(command, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)  # the module _server_commands calls it through
    code, out, err = bot_db(awkward, "shell", "-c", "SELECT 1")
    assert code == 0, out + err
    assert "PGPASSWORD" not in seen["env"]
    assert seen["env"]["PGPASSFILE"].startswith("/dev/fd/")
    assert all("a:b" not in value for value in seen["env"].values())


def test_the_dev_role_is_the_superuser_the_section_explains(running: Settings) -> None:
    assert scalar(running, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is True


@pytest.mark.parametrize(
    "fact",
    [
        "`127.0.0.1` only",
        "`scram-sha-256`",
        "loopback inside the container included",
        "`0700`",
        "umask",
        "next `bot-db up` removes any `pw-*` file",
        "never\n`POSTGRES_PASSWORD`",
        "memfd",
        "superuser, on purpose",
        "every host and `hostaddr`",
    ],
)
def test_the_security_section_states_it(fact: str) -> None:
    text = SECTION.read_text(encoding="utf-8")
    section = text.split("\n## Security\n", 1)[1].split("\n## ", 1)[0]
    assert " ".join(fact.split()) in " ".join(section.split())
