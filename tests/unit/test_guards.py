from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot_persistence.devdb.guards import confirm, connection_targets, guard_destructive
from bot_persistence.errors import GuardRefusedError
from bot_persistence.settings import Settings


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def make(**values: object) -> Settings:
    return Settings.from_values(**values)


def test_local_development_database_passes_the_guard() -> None:
    guard_destructive(make(), action="reset", force=False)


def test_guard_refuses_a_non_local_host() -> None:
    with pytest.raises(GuardRefusedError, match=r"db\.example\.com.*--force"):
        guard_destructive(
            make(database_url="postgresql://u:p@db.example.com/app"), action="reset", force=False
        )


def test_guard_refuses_production_even_on_localhost() -> None:
    with pytest.raises(GuardRefusedError, match="production"):
        guard_destructive(make(environment="production"), action="reset", force=False)


def test_force_overrides_the_guard() -> None:
    guard_destructive(
        make(environment="production", database_url="postgresql://u:p@db.example.com/app"),
        action="reset",
        force=True,
    )


def test_confirm_without_a_terminal_refuses_instead_of_hanging() -> None:
    with pytest.raises(GuardRefusedError, match="--yes"):
        confirm("Drop it?", yes=False, stdin=io.StringIO("y\n"))


def test_refusal_without_a_terminal_reads_as_a_sentence_not_a_question() -> None:
    with pytest.raises(GuardRefusedError) as refused:
        confirm("Drop database 'bot' and recreate it?", yes=False, stdin=io.StringIO(""))
    message = str(refused.value)
    assert message.startswith("nothing was changed: there is no terminal to ask")
    assert not message.startswith("Drop") and "? needs" not in message
    assert message.endswith("run it again with --yes to agree")


def test_confirm_with_yes_does_not_ask() -> None:
    confirm("Drop it?", yes=True, stdin=None)


@pytest.mark.parametrize(
    ("answer", "accepted"), [("y\n", True), ("yes\n", True), ("\n", False), ("n\n", False)]
)
def test_confirm_on_a_terminal_takes_the_answer(answer: str, accepted: bool) -> None:
    shown = io.StringIO()
    if accepted:
        confirm("Drop it?", yes=False, stdin=FakeTerminal(answer), stdout=shown)
    else:
        with pytest.raises(GuardRefusedError, match="cancelled"):
            confirm("Drop it?", yes=False, stdin=FakeTerminal(answer), stdout=shown)
    assert "Drop it? [y/N]" in shown.getvalue()


@pytest.fixture
def no_libpq_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No PG* variable of the machine running the tests, and no service file of its own."""
    for name in ("PGHOST", "PGHOSTADDR", "PGSERVICE", "PGSYSCONFDIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGSERVICEFILE", str(tmp_path / "none.conf"))
    return monkeypatch


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@localhost/bot?hostaddr=203.0.113.5",
        "postgresql://u:p@localhost/bot?host=/tmp&host=db.prod.example",
        "postgresql://u:p@127.0.0.1/bot?host=127.0.0.1&host=10.0.0.7",
        "postgresql://u:p@[::1]/bot?hostaddr=192.0.2.1",
    ],
    ids=["hostaddr", "host-list", "host-list-ip", "ipv6-then-hostaddr"],
)
def test_guard_refuses_any_non_local_target_libpq_would_use(
    no_libpq_env: pytest.MonkeyPatch, url: str
) -> None:
    with pytest.raises(GuardRefusedError, match="not a local host"):
        guard_destructive(make(database_url=url), action="reset", force=False)


def test_guard_reads_pghostaddr_which_libpq_connects_to_instead_of_the_host(
    no_libpq_env: pytest.MonkeyPatch,
) -> None:
    no_libpq_env.setenv("PGHOSTADDR", "203.0.113.5")
    settings = make(database_url="postgresql://u:p@localhost/bot")
    assert connection_targets(settings) == ["localhost", "203.0.113.5"]
    with pytest.raises(GuardRefusedError, match=r"203\.0\.113\.5"):
        guard_destructive(settings, action="reset", force=False)


def test_pghost_loses_to_the_host_the_url_names_as_in_libpq(
    no_libpq_env: pytest.MonkeyPatch,
) -> None:
    no_libpq_env.setenv("PGHOST", "db.prod.example")
    assert connection_targets(make()) == ["127.0.0.1"]


def test_guard_follows_a_service_to_its_address(
    no_libpq_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    services = tmp_path / "pg_service.conf"
    services.write_text("[prod]\nhostaddr=203.0.113.9\nport=5432\n[dev]\nhostaddr=127.0.0.1\n")
    no_libpq_env.setenv("PGSERVICEFILE", str(services))
    via_url = make(database_url="postgresql://u:p@localhost/bot?service=prod")
    with pytest.raises(GuardRefusedError, match=r"203\.0\.113\.9"):
        guard_destructive(via_url, action="reset", force=False)
    no_libpq_env.setenv("PGSERVICE", "prod")
    with pytest.raises(GuardRefusedError, match=r"203\.0\.113\.9"):
        guard_destructive(make(), action="reset", force=False)
    no_libpq_env.setenv("PGSERVICE", "dev")
    guard_destructive(make(), action="reset", force=False)


def test_guard_refuses_a_service_it_cannot_find(no_libpq_env: pytest.MonkeyPatch) -> None:
    no_libpq_env.setenv("PGSERVICE", "nowhere")
    with pytest.raises(GuardRefusedError, match="service 'nowhere'"):
        guard_destructive(make(), action="reset", force=False)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@localhost/bot",
        "postgresql://u:p@127.0.0.1:5433/bot?hostaddr=127.0.0.2",
        "postgresql://u:p@localhost/bot?host=/var/run/postgresql",
        "postgresql://u:p@[::1]/bot",
    ],
    ids=["localhost", "loopback-hostaddr", "socket-dir", "ipv6-loopback"],
)
def test_guard_lets_every_local_target_pass(no_libpq_env: pytest.MonkeyPatch, url: str) -> None:
    guard_destructive(make(database_url=url), action="reset", force=False)
