from __future__ import annotations

import io

import pytest

from bot_persistence.devdb.guards import confirm, guard_destructive
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
