"""`bot-db snapshot save/restore/list/delete`, and the snapshot `reset` takes first."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from typing import TypeVar

import psycopg
import pytest
from sqlalchemy import text

from bot_persistence.devdb import snapshots
from bot_persistence.devdb.target import Target
from bot_persistence.errors import SnapshotNameError
from bot_persistence.settings import Settings
from bot_persistence.testing import TestDatabase
from tests.helpers import bot_db, engine_for

T = TypeVar("T")


class Terminal(io.StringIO):
    """Standard input that says it is a terminal, with the user's answers in it."""

    def isatty(self) -> bool:
        return True


def user_names(settings: Settings) -> list[str]:
    with engine_for(settings) as engine, engine.connect() as conn:
        return list(conn.execute(text("SELECT username FROM users ORDER BY id")).scalars())


def add_user(settings: Settings, user_id: int, name: str) -> None:
    with engine_for(settings) as engine, engine.begin() as conn:
        conn.execute(
            text("INSERT INTO users (id, username) VALUES (:id, :name)"),
            {"id": user_id, "name": name},
        )


def on_target(step: Callable[..., T], settings: Settings, *args: object, **kwargs: object) -> T:
    """Run one step of a command on ``settings``' database, as a command's target would."""
    with Target(settings) as target:
        return step(target, *args, **kwargs)


@pytest.fixture
def dev(db_factory: Callable[..., TestDatabase]) -> Settings:
    """A migrated, seeded database standing in for a contributor's dev database."""
    return db_factory("seeded").settings


def connect(settings: Settings) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(
        host=settings.host,
        port=settings.port,
        user=settings.user,
        password=settings.password,
        dbname=settings.database,
        application_name="editor",
    )


def test_save_change_restore_brings_the_rows_back(dev: Settings) -> None:
    seeded = user_names(dev)
    code, out, _ = bot_db(dev, "snapshot", "save", "clean")
    assert code == 0 and "saved snapshot clean" in out
    add_user(dev, 500, "added later")
    assert "added later" in user_names(dev)

    code, out, _ = bot_db(dev, "snapshot", "restore", "clean", "--yes")
    assert code == 0 and "restored" in out
    assert user_names(dev) == seeded
    assert [snap.name for snap in on_target(snapshots.list_snapshots, dev)] == ["clean"]


def test_list_shows_snapshots_oldest_first_and_as_json(dev: Settings) -> None:
    code, out, _ = bot_db(dev, "snapshot", "list")
    assert code == 0 and "no snapshots" in out
    assert bot_db(dev, "snapshot", "save", "one")[0] == 0
    assert bot_db(dev, "snapshot", "save", "two")[0] == 0
    code, out, _ = bot_db(dev, "snapshot", "list", "--json")
    listed = json.loads(out)
    assert [item["name"] for item in listed] == ["one", "two"]
    assert all(item["size_bytes"] > 0 and item["created"] for item in listed)


def test_save_refuses_a_name_in_use(dev: Settings) -> None:
    assert bot_db(dev, "snapshot", "save", "same")[0] == 0
    code, _, err = bot_db(dev, "snapshot", "save", "same")
    assert code == 1 and "exists already" in err


@pytest.mark.parametrize(
    "name",
    ["", "-dash-first", "has space", "x" * 60, "..", "a/b", "../up", "name\n", "a..b"],
    ids=repr,
)
def test_names_postgres_cannot_hold_are_refused(dev: Settings, name: str) -> None:
    with pytest.raises(SnapshotNameError, match="snapshot name"):
        on_target(snapshots.save, dev, name)
    for action in ("save", "restore", "delete"):  # a usage error, before anything is asked
        code, out, err = bot_db(dev, "snapshot", action, name, "--yes")
        assert (code, out) == (2, ""), (action, err)
        assert err.count("\n") == 1 or name.startswith("-"), err  # argparse's own, for -x


def test_restore_of_a_missing_snapshot_leaves_the_database_alone(dev: Settings) -> None:
    before = user_names(dev)
    code, _, err = bot_db(dev, "snapshot", "restore", "nope", "--yes")
    assert code == 1 and "no snapshot named 'nope'" in err
    assert user_names(dev) == before


def test_restore_without_consent_and_without_a_terminal_refuses(dev: Settings) -> None:
    assert bot_db(dev, "snapshot", "save", "clean")[0] == 0
    add_user(dev, 501, "kept")
    code, _, err = bot_db(dev, "snapshot", "restore", "clean")
    assert code == 2 and "--yes" in err
    assert "kept" in user_names(dev)


def test_restore_refuses_a_non_local_host_before_connecting() -> None:
    remote = Settings.from_values(database_url="postgresql://bot:pw@db.example.com:5432/bot")
    code, _, err = bot_db(remote, "snapshot", "restore", "clean", "--yes")
    assert code == 2 and "not a local host" in err


def test_restore_names_other_sessions_and_asks_before_ending_them(
    dev: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bot_db(dev, "snapshot", "save", "clean")[0] == 0
    add_user(dev, 502, "kept")
    with connect(dev) as editor:
        code, out, err = bot_db(dev, "snapshot", "restore", "clean", stdin=Terminal("n\n"))
        assert code == 2 and "cancelled" in err
        assert "1 other session(s)" in out and "editor" in out
        assert "ending those 1 session(s)? [y/N]" in capsys.readouterr().out
        # The client's address as the server sees it: loopback, or the Docker
        # bridge's gateway when the run's server is a container (--db-pg).
        assert re.search(r"editor on [0-9a-f.:]+\)", out), out
        assert editor.execute("SELECT 1").fetchone() == (1,)  # still connected
    assert "kept" in user_names(dev)


def test_restore_without_a_terminal_names_the_sessions_and_refuses(dev: Settings) -> None:
    assert bot_db(dev, "snapshot", "save", "clean")[0] == 0
    with connect(dev):
        code, out, err = bot_db(dev, "snapshot", "restore", "clean")
    assert code == 2 and "--yes" in err
    assert "editor" in out


def test_restore_on_a_terminal_ends_sessions_once_agreed(dev: Settings) -> None:
    assert bot_db(dev, "snapshot", "save", "clean")[0] == 0
    add_user(dev, 505, "gone")
    editor = connect(dev)
    try:
        code, _, _ = bot_db(dev, "snapshot", "restore", "clean", stdin=Terminal("y\n"))
        assert code == 0
        with pytest.raises(psycopg.OperationalError):
            editor.execute("SELECT 1")
    finally:
        editor.close()
    assert "gone" not in user_names(dev)


def test_restore_with_yes_ends_other_sessions(dev: Settings) -> None:
    assert bot_db(dev, "snapshot", "save", "clean")[0] == 0
    add_user(dev, 503, "gone")
    editor = connect(dev)
    try:
        code, out, _ = bot_db(dev, "snapshot", "restore", "clean", "--yes")
        assert code == 0 and "editor" in out
        with pytest.raises(psycopg.OperationalError):
            editor.execute("SELECT 1")
    finally:
        editor.close()
    assert "gone" not in user_names(dev)


def test_save_with_a_session_connected_asks_first(dev: Settings) -> None:
    with connect(dev):
        code, _, err = bot_db(dev, "snapshot", "save", "busy")
        assert code == 2 and "--yes" in err
        assert on_target(snapshots.list_snapshots, dev) == []
        code, _, _ = bot_db(dev, "snapshot", "save", "busy", "--yes")
        assert code == 0
    assert [snap.name for snap in on_target(snapshots.list_snapshots, dev)] == ["busy"]
    assert len(user_names(dev)) == 4  # and the database accepts connections again


def test_delete_removes_a_snapshot_and_says_when_there_is_none(dev: Settings) -> None:
    assert bot_db(dev, "snapshot", "save", "old")[0] == 0
    assert bot_db(dev, "snapshot", "delete", "old", "--yes")[0] == 0
    assert on_target(snapshots.list_snapshots, dev) == []
    code, _, err = bot_db(dev, "snapshot", "delete", "old", "--yes")
    assert code == 1 and "no snapshot named 'old'" in err


def test_reset_takes_a_snapshot_first_that_undoes_it(dev: Settings) -> None:
    add_user(dev, 504, "my work")
    code, out, _ = bot_db(dev, "reset", "--yes")
    assert code == 0
    assert "my work" not in user_names(dev)
    (taken,) = on_target(snapshots.list_snapshots, dev)
    assert taken.name.startswith("pre-reset-") and f"snapshot restore {taken.name}" in out
    assert bot_db(dev, "snapshot", "restore", taken.name, "--yes")[0] == 0
    assert "my work" in user_names(dev)


def test_reset_with_no_snapshot_takes_none(dev: Settings) -> None:
    assert bot_db(dev, "reset", "--yes", "--no-snapshot")[0] == 0
    assert on_target(snapshots.list_snapshots, dev) == []


def test_reset_keeps_only_the_newest_automatic_snapshots(
    dev: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = []
    for n in range(1, 5):
        snap = on_target(
            snapshots.save, dev, f"{snapshots.AUTO_PREFIX}2026010{n}-000000", end_sessions=True
        )
        names.append(snap.name)
    monkeypatch.setattr(snapshots, "KEEP_AUTO", 2)
    taken, pruned = on_target(snapshots.save_before_reset, dev)
    assert taken is not None
    kept = [snap.name for snap in on_target(snapshots.list_snapshots, dev)]
    assert pruned == names[:3]
    assert kept == [names[3], taken.name]


def test_two_resets_within_a_second_keep_both_snapshots(dev: Settings) -> None:
    first, _ = on_target(snapshots.save_before_reset, dev)
    second, _ = on_target(snapshots.save_before_reset, dev)
    assert first is not None and second is not None
    assert first.name != second.name
