"""Branch database names: valid for PostgreSQL whatever the branch is called, and apart."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot_persistence.devdb import branches
from bot_persistence.devdb.branches import SNAPSHOT_ROOM, database_name
from bot_persistence.settings import Settings

BRANCH_NAMES = [
    "feature/x",
    "feature-x",
    "Feature_X",
    "feature/X",
    "fix/ümlaut-ß",
    "fix/umlaut-ss",
    "💥",
    "🔥",
    "a" * 250,
    "a" * 251,
    "release/2026.12",
    "release/2026-12",
    "-",
    "x__snap_y",
]


@pytest.mark.parametrize("branch", BRANCH_NAMES)
def test_a_branch_name_gives_a_name_postgresql_holds_with_room_for_snapshots(branch: str) -> None:
    name = database_name("bot", branch)
    assert len(name.encode()) <= 63 - SNAPSHOT_ROOM
    assert name.startswith("bot__br_")
    assert "__" not in name.removeprefix("bot__br_")  # a snapshot's separator never appears
    assert branches.is_branch_database("bot", name)


def test_branches_that_normalise_alike_stay_apart() -> None:
    names = {database_name("bot", branch) for branch in BRANCH_NAMES}
    assert len(names) == len(BRANCH_NAMES)


def test_a_detached_commit_never_takes_a_branch_name() -> None:
    commit = "59540e6" + "0" * 33
    detached = database_name("bot", None, commit)
    assert detached.startswith("bot__br_at-59540e6_")
    assert detached not in {database_name("bot", f"at-{commit[:7]}"), database_name("bot", commit)}


def test_the_naming_scheme_does_not_change_under_existing_databases() -> None:
    # A new scheme would orphan every contributor's branch databases: change it on purpose only.
    assert database_name("bot", "feature/x") == "bot__br_feature-x_217d2bf"


@pytest.mark.parametrize("base", ["b" * 40, "b" * 63, "ünïcode-" * 8])
def test_a_long_base_name_still_fits_63_bytes(base: str) -> None:
    name = database_name(base, "feature/x")
    assert len(name.encode()) <= 63
    name.encode().decode()  # cut at a character boundary
    assert branches.is_branch_database(base, name)


@pytest.mark.parametrize(
    "other",
    [
        "bot__snap_before",
        "bot__restoring",
        database_name("bot", "feature/x") + "__snap_pre-reset-20261202-101010",
        database_name("bot", "feature/x") + "__restoring",
        "bot",
        "postgres",
        "bot__br_",
    ],
)
def test_snapshots_and_other_databases_are_never_taken_for_branch_databases(other: str) -> None:
    assert not branches.is_branch_database("bot", other)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, True),
        ({"backend": "embedded"}, True),
        ({"backend": "compose"}, True),
        ({"branch_databases": False}, False),
        ({"backend": "external"}, False),
        ({"environment": "production"}, False),
        ({"database_url": "postgresql://bot:pw@127.0.0.1:5433/bot"}, False),
    ],
    ids=["auto", "embedded", "compose", "off", "external", "production", "database-url"],
)
def test_branch_databases_apply_only_on_a_dev_server_of_ours(
    values: dict[str, object], expected: bool
) -> None:
    assert branches.applies(Settings.from_values(**values)) is expected


def test_outside_git_there_is_one_database(tmp_path: Path) -> None:
    assert branches.resolve(Settings.from_values(), tmp_path) is None


def test_a_repository_without_commits_has_one_database(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert branches.resolve(Settings.from_values(), tmp_path) is None
