"""Where bot-db reads its configuration, which server counts as managed, how progress shows."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from bot_persistence.cli.output import Console
from bot_persistence.project import env_file
from bot_persistence.provision import select_backend
from bot_persistence.provision.base import free_port
from bot_persistence.provision.selection import is_managed_url
from bot_persistence.settings import Settings
from tests.helpers import bot_db, wait_until

MANAGED = "postgresql://bot:bot-dev-password@127.0.0.1:5433/bot"


def checkout(root: Path, env: str) -> Path:
    """A minimal project root: alembic.ini, alembic/env.py, a .env and a docs/ folder."""
    (root / "alembic").mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\n")
    (root / "alembic" / "env.py").write_text("")
    (root / ".env").write_text(env)
    (root / "docs" / "deep").mkdir(parents=True)
    return root


def test_env_file_is_the_project_roots_from_any_folder_below_it(tmp_path: Path) -> None:
    root = checkout(tmp_path / "clone", "")
    assert env_file(root / "docs" / "deep") == root / ".env"
    assert env_file(root) == root / ".env"


def test_env_file_outside_a_checkout_is_the_current_folders(tmp_path: Path) -> None:
    assert env_file(tmp_path) == tmp_path / ".env"


def test_bot_db_in_a_sub_folder_reads_the_roots_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = checkout(tmp_path / "clone", "POSTGRES_PORT=6543\nPOSTGRES_PASSWORD=from-root\n")
    for name in ("DATABASE_URL", "POSTGRES_PORT", "POSTGRES_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(root / "docs" / "deep")
    code, out, err = bot_db(None, "url")
    assert (code, err) == (0, "")
    assert out.strip() == "postgresql://bot:from-root@127.0.0.1:6543/bot"


@pytest.mark.parametrize(
    ("url", "managed"),
    [
        (MANAGED, True),
        ("postgresql+psycopg://bot:bot-dev-password@localhost:5433/bot", True),
        ("postgresql://bot:bot-dev-password@127.0.0.1:5434/bot", False),
        ("postgresql://bot:other@127.0.0.1:5433/bot", False),
        ("postgresql://bot:bot-dev-password@127.0.0.1:5433/other", False),
        ("postgresql://bot:bot-dev-password@db.example.com:5433/bot", False),
        (MANAGED + "?sslmode=require", False),
    ],
    ids=["bot-db-url", "localhost-and-driver", "port", "password", "database", "remote", "options"],
)
def test_database_url_of_the_managed_server_counts_as_managed(url: str, managed: bool) -> None:
    assert is_managed_url(Settings.from_values(database_url=url)) is managed


def test_down_after_following_ups_hint_still_manages_the_server(tmp_path: Path) -> None:
    settings = Settings.from_values(database_url=MANAGED, data_dir=tmp_path / "devdb")
    backend, reason = select_backend(settings)
    assert backend.name != "external"
    assert "managed server's own URL" in reason
    code, out, err = bot_db(settings, "down")
    assert code == 0
    assert "not managed" not in out + err


def test_another_database_url_stays_external() -> None:
    backend, _ = select_backend(Settings.from_values(database_url=MANAGED.replace("5433", "6000")))
    assert backend.name == "external"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_slow_step_off_a_terminal_prints_plain_lines_with_its_details() -> None:
    stream = io.StringIO()
    console = Console(stream)
    with console.step("server    starting", after=0):
        wait_until(lambda: "…" in stream.getvalue(), timeout=5, what="the step's line")
        logging.getLogger("bot_persistence.provision.engine").info("pulling postgres:18")
    console.ok("server    started")
    lines = stream.getvalue().splitlines()
    assert lines == ["… server    starting", "  pulling postgres:18", "✓ server    started"]
    assert "\r" not in stream.getvalue()


def test_slow_step_on_a_terminal_redraws_one_spinner_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    stream = _Terminal()
    console = Console(stream)
    with console.step("migrate   running", after=0):
        logging.getLogger("bot_persistence.migrations").info("revision 1 of 2")
        wait_until(lambda: "(revision 1 of 2)" in stream.getvalue(), timeout=5, what="detail")
    text = stream.getvalue()
    assert "\rmigrate" not in text  # every redraw starts with a spinner frame
    assert "\r\x1b[K⠋ migrate   running" in text
    assert text.endswith("\r\x1b[K")  # the spinner line is cleared for the ✓ line


def test_quick_step_prints_nothing_of_its_own() -> None:
    stream = io.StringIO()
    with Console(stream).step("seed      applying", after=60):
        pass
    assert stream.getvalue() == ""


def test_step_details_do_not_leak_to_the_root_logger(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("bot_persistence")
    before = (logger.level, logger.propagate)
    with caplog.at_level(logging.WARNING), Console(io.StringIO()).step("x", after=60):
        logging.getLogger("bot_persistence.provision").info("detail")
    assert caplog.records == []
    assert (logger.level, logger.propagate) == before


def test_json_mode_writes_only_the_document() -> None:
    stream = io.StringIO()
    console = Console(stream, json_mode=True)
    console.ok("step")
    with console.step("slow", after=0):
        pass
    console.json({"ok": True})
    assert json.loads(stream.getvalue()) == {"ok": True}


def test_a_branch_databases_url_counts_as_managed_too() -> None:
    url = MANAGED.replace(":5433/bot", ":5433/bot__br_feature-x-1a2b3c4")
    settings = Settings.from_values(database_url=url)
    assert is_managed_url(settings, branch_infix="__br_")
    assert not is_managed_url(settings)
    other = Settings.from_values(database_url=MANAGED.replace(":5433/bot", ":5433/botany"))
    assert not is_managed_url(other, branch_infix="__br_")


def test_bot_db_treats_a_managed_database_url_as_the_managed_server(tmp_path: Path) -> None:
    # A free port: the checkout's own dev server may be up on 5433 (onboarding runs
    # these tests beside it), and would be named as another checkout's server.
    port = free_port()
    settings = Settings.from_values(
        database_url=MANAGED.replace(":5433/", f":{port}/"),
        postgres_port=port,
        data_dir=tmp_path / "devdb",
        branch_databases=False,
    )
    code, out, err = bot_db(settings, "status", "--json")
    assert out, err
    assert json.loads(out)["backend"] != "external"
    assert code in (0, 1)  # no server runs here: what matters is whose it is
