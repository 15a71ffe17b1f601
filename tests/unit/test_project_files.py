"""Where the migrations and seeds are found: a checkout first, else the package's copy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot_persistence import project
from bot_persistence.errors import ConfigurationError, PackageDataMissingError


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with no checkout above it, and no checkout beside the source."""
    monkeypatch.setattr(project, "_is_root", _only_under(tmp_path))
    return tmp_path


def _only_under(base: Path) -> Callable[[Path], bool]:
    real = project._is_root

    def is_root(candidate: Path) -> bool:
        return candidate.is_relative_to(base) and real(candidate)

    return is_root


def _package_copy(data: Path) -> Path:
    (data / "alembic" / "versions").mkdir(parents=True)
    (data / "alembic" / "env.py").write_text("", encoding="utf-8")
    (data / "alembic.ini").write_text("[alembic]\n", encoding="utf-8")
    (data / "seeds").mkdir()
    return data


def test_a_checkout_wins_over_the_package_copy(outside: Path) -> None:
    checkout = _package_copy(outside / "checkout")
    data = _package_copy(outside / "site-packages" / "_data")
    assert project.project_root(checkout / "alembic", data=data) == checkout


def test_the_package_copy_serves_an_empty_directory(outside: Path) -> None:
    data = _package_copy(outside / "site-packages" / "_data")
    (outside / "empty").mkdir()
    root = project.project_root(outside / "empty", data=data)
    assert root == data
    assert project.versions_dir(root) == data / "alembic" / "versions"


def test_a_wheel_without_migrations_is_a_typed_one_line_error(outside: Path) -> None:
    (outside / "empty").mkdir()
    with pytest.raises(PackageDataMissingError, match="built without them") as caught:
        project.project_root(outside / "empty", data=outside / "missing")
    assert "\n" not in str(caught.value)


def test_checkout_only_commands_say_they_need_a_checkout(outside: Path) -> None:
    with pytest.raises(ConfigurationError, match="run this command inside one"):
        project.checkout_root(outside)


def test_the_bot_reads_its_own_packages_migrations_not_the_checkout_it_runs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "some-other-checkout"
    (other / "alembic" / "versions").mkdir(parents=True)
    (other / "alembic.ini").write_text("[alembic]\n")
    (other / "alembic" / "env.py").write_text("")
    monkeypatch.chdir(other)
    assert project.project_root() == other.resolve()  # the tooling: the checkout wins
    assert project.package_root() != other.resolve()  # the bot: its own migrations
    assert (project.package_root() / "alembic" / "versions").is_dir()
