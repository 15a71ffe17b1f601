"""A contributor's worst days with the embedded dev server, each met by one line.

A damaged ``postmaster.pid``, a data directory deleted under a running server,
another checkout's server on our port, commands run before ``up``, an ``up``
that fails after starting the server, and a SIGTERM in the middle of initdb.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot_persistence.connection import admin_url
from bot_persistence.devdb import snapshots
from bot_persistence.devdb.target import Target
from bot_persistence.settings import Settings
from tests.helpers import PASSWORD, bot_db, scalar, wait_until
from tests.integration.test_embedded_lifecycle import cluster_of, dev_settings

__all__ = ["dev_settings"]  # the fixture, imported for this module's tests


def _insert_marker(settings: Settings) -> None:
    engine = create_engine(settings.url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, username) VALUES (77, 'marker')"))
    engine.dispose()


def test_a_garbage_pid_file_beside_a_running_server_is_seen_and_repaired(
    dev_settings: Settings,
) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    _insert_marker(dev_settings)
    cluster = cluster_of(dev_settings)
    pid = cluster.running_pid()
    (cluster.pgdata / "postmaster.pid").write_text("garbage\n")
    code, out, _ = bot_db(dev_settings, "status")
    assert code == 0
    assert f"running on 127.0.0.1:{dev_settings.port} (pid {pid})" in out
    assert "postmaster.pid is damaged" in out
    code, out, err = bot_db(dev_settings, "up")
    assert (code, err) == (0, "")
    assert cluster.running_pid() not in (None, pid)
    assert scalar(dev_settings, "SELECT username FROM users WHERE id = 77") == "marker"
    (cluster.pgdata / "postmaster.pid").write_text("")
    code, out, _ = bot_db(dev_settings, "down")
    assert code == 0 and "stopped the server" in out
    assert cluster.running_pid() is None


def test_a_data_directory_deleted_under_its_server_gets_one_consistent_story(
    dev_settings: Settings,
) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    cluster = cluster_of(dev_settings)
    pid = cluster.running_pid()
    subprocess.run(["rm", "-rf", str(cluster.pgdata)], check=True)
    for command in ("status", "check", "up", "seed"):
        code, out, err = bot_db(dev_settings, command)
        assert code == 1, command
        assert f"was deleted while its server (pid {pid}) still runs" in err, command
        assert "Traceback" not in out + err
    assert not (cluster.pgdata / "PG_VERSION").exists(), "up must not initdb under the orphan"
    code, out, _ = bot_db(dev_settings, "down")
    assert code == 0 and "data directory had been deleted" in out
    code, _, err = bot_db(dev_settings, "up")
    assert (code, err) == (0, "")


def test_another_checkouts_server_on_our_port_is_named_and_never_written(
    dev_settings: Settings,
) -> None:
    # Beside dev_settings' own folder, not under pytest's tmp_path: as root the
    # server runs as another user, who must pass through the folders above its
    # data, and every pytest that starts (a nested run, another worker's)
    # takes /tmp/pytest-of-root back to 0700.
    other = dev_settings.model_copy(
        update={"data_dir": dev_settings.data_dir.parent / "other-checkout"}
    )
    try:
        assert bot_db(other, "up")[0] == 0
        for command in (["status"], ["check"], ["seed"], ["migrate"], ["smoke"], ["up"]):
            code, out, err = bot_db(dev_settings, *command)
            assert code == 1, command
            assert str(other.data_dir / "pgdata") in out + err, command
            assert "another checkout's PostgreSQL" in out + err, command
        assert not dev_settings.data_dir.joinpath("pgdata").exists()
        assert scalar(other, "SELECT count(*) FROM users") == 4  # seed wrote nothing there
    finally:
        bot_db(other, "down", "--purge", "--yes")


def test_status_after_down_does_not_claim_revision_base(dev_settings: Settings) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    assert bot_db(dev_settings, "down")[0] == 0
    code, out, _ = bot_db(dev_settings, "status")
    assert code == 1
    assert "revision   unknown" in out
    assert "revision   base" not in out


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["smoke"], "no PostgreSQL server answers"),
        (["shell", "-c", "SELECT 1"], "no PostgreSQL server answers"),
        (["reset", "--yes"], "no embedded dev database here yet"),
    ],
    ids=["smoke", "shell", "reset"],
)
def test_before_up_a_command_says_so_at_once_and_creates_nothing(
    dev_settings: Settings, command: list[str], says: str
) -> None:
    code, out, err = bot_db(dev_settings, *command)
    assert code == 1
    said = [line for line in (out + err).splitlines() if says in line]
    assert len(said) == 1 and "bot-db up" in said[0]
    assert "WARNING" not in out + err
    assert not dev_settings.data_dir.joinpath("pgdata").exists()


def test_up_failing_after_the_start_says_the_server_is_still_running(
    dev_settings: Settings,
) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    engine = create_engine(dev_settings.url, poolclass=NullPool)
    with engine.begin() as conn:  # a revision no migration knows: `migrate` must fail
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    engine.dispose()
    assert bot_db(dev_settings, "down")[0] == 0
    code, _out, err = bot_db(dev_settings, "up")
    assert code != 0
    assert "the server this `up` started is still running (`bot-db down` stops it)" in err
    assert len(err.splitlines()) == 1
    assert cluster_of(dev_settings).running_pid() is not None


def test_sigterm_during_initdb_leaves_no_password_file_and_the_next_up_works(
    dev_settings: Settings,
) -> None:
    env = {
        **os.environ,
        "POSTGRES_PORT": str(dev_settings.port),
        "POSTGRES_PASSWORD": PASSWORD,
        "BOT_DB_DATA_DIR": str(dev_settings.data_dir),
        "BOT_DB_BACKEND": "embedded",
        "BOT_DB_BRANCH_DATABASES": "false",
    }
    env.pop("DATABASE_URL", None)
    up = subprocess.Popen(
        [sys.executable, "-m", "bot_persistence", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(
        lambda: any(dev_settings.data_dir.glob("pw-*")) or up.poll() is not None,
        timeout=60,
        what="initdb's password file",
    )
    up.send_signal(signal.SIGTERM)
    _out, err = up.communicate(timeout=60)
    assert up.returncode == 143, err
    assert err.strip().splitlines() == [
        "bot-db: error: terminated; run the command again to finish what it started"
    ]
    assert not list(dev_settings.data_dir.glob("pw-*"))
    code, _, err = bot_db(dev_settings, "up")
    assert (code, err) == (0, "")


def test_up_finishes_a_restore_stopped_between_its_drop_and_its_rename(
    dev_settings: Settings,
) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    _insert_marker(dev_settings)
    assert bot_db(dev_settings, "snapshot", "save", "keep")[0] == 0
    with Target(dev_settings) as target:
        (snap,) = snapshots.list_snapshots(target)
    admin = create_engine(admin_url(dev_settings), poolclass=NullPool)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "bot__restoring" TEMPLATE "{snap.database}"')
        conn.exec_driver_sql("DROP DATABASE bot WITH (FORCE)")
    admin.dispose()
    code, _, err = bot_db(dev_settings, "up")
    assert (code, err) == (0, "")
    assert scalar(dev_settings, "SELECT username FROM users WHERE id = 77") == "marker"
