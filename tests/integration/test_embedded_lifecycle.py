"""`bot-db up/down/status` on a contributor's own embedded server, as from a fresh clone."""

from __future__ import annotations

import io
import os
import signal
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot_persistence import cli
from bot_persistence.provision.base import free_port
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.provision.scratch import scratch_root
from bot_persistence.settings import Settings
from tests.helpers import PASSWORD, bot_db, make_settings, scalar, wait_until


@pytest.fixture
def dev_settings() -> Iterator[Settings]:
    """Settings for a brand-new embedded dev server in its own folder and port."""
    root = Path(tempfile.mkdtemp(prefix="bp-dev-", dir=scratch_root()))
    settings = make_settings(free_port(), "bot", backend="embedded", data_dir=root / "devdb")
    try:
        yield settings
    finally:
        cli.main(["down", "--purge", "--yes"], settings=settings, stdout=io.StringIO())
        if root.exists():
            for child in sorted(root.rglob("*"), reverse=True):
                child.unlink() if not child.is_dir() or child.is_symlink() else child.rmdir()
            root.rmdir()


def cluster_of(settings: Settings) -> EmbeddedCluster:
    return EmbeddedCluster(
        settings.data_dir, port=settings.port, user=settings.user, password=settings.password
    )


def test_up_on_a_fresh_clone_gives_a_migrated_seeded_probed_database(
    dev_settings: Settings,
) -> None:
    code, out, err = bot_db(dev_settings, "up")
    assert (code, err) == (0, "")
    assert "backend   embedded" in out
    assert "created and started" in out
    assert "ready in" in out
    assert "***" in out
    assert PASSWORD not in out
    assert scalar(dev_settings, "SELECT count(*) FROM users") == 4
    assert scalar(dev_settings, "SHOW listen_addresses") == "127.0.0.1"
    assert scalar(dev_settings, "SHOW password_encryption") == "scram-sha-256"
    hba_methods = scalar(
        dev_settings, "SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules"
    )
    assert hba_methods == "scram-sha-256"


def test_a_warm_up_still_tidies_what_a_killed_up_left(dev_settings: Settings) -> None:
    # A running server lets `up` skip its lock, but not what the locked way tidies:
    # a killed initdb's password file, and the data folder's 0700.
    assert bot_db(dev_settings, "up")[0] == 0
    cluster = cluster_of(dev_settings)
    assert cluster.serving()
    leftover = dev_settings.data_dir / "pw-left-by-a-killed-initdb"
    leftover.write_text("secret\n")
    dev_settings.data_dir.chmod(0o755)
    assert not cluster.serving()
    pid_before = cluster.running_pid()
    assert bot_db(dev_settings, "up")[0] == 0
    assert not leftover.exists()
    assert dev_settings.data_dir.stat().st_mode & 0o777 == 0o700
    assert cluster.running_pid() == pid_before
    assert cluster.serving()


def test_up_again_reuses_the_server_and_does_not_duplicate_seeds(dev_settings: Settings) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    pid_before = cluster_of(dev_settings).running_pid()
    snapshot = scalar(
        dev_settings, "SELECT string_agg(id::text || name, ',' ORDER BY id) FROM playlists"
    )
    code, out, _ = bot_db(dev_settings, "up")
    assert code == 0
    assert "server    running" in out
    assert "kept existing rows" in out
    assert cluster_of(dev_settings).running_pid() == pid_before
    assert (
        scalar(dev_settings, "SELECT string_agg(id::text || name, ',' ORDER BY id) FROM playlists")
        == snapshot
    )


def test_down_keeps_data_and_up_starts_it_again(dev_settings: Settings) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    scalar(dev_settings, "INSERT INTO users (id, username) VALUES (42, 'kept')")
    code, out, _ = bot_db(dev_settings, "down")
    assert code == 0 and "data kept" in out
    assert cluster_of(dev_settings).running_pid() is None
    assert bot_db(dev_settings, "check")[0] == 1
    code, out, _ = bot_db(dev_settings, "up")
    assert code == 0 and "server    started" in out
    assert scalar(dev_settings, "SELECT username FROM users WHERE id = 42") == "kept"


def test_down_purge_deletes_the_data(dev_settings: Settings) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    code, out, _ = bot_db(dev_settings, "down", "--purge", "--yes")
    assert code == 0 and "deleted" in out
    assert not dev_settings.data_dir.exists()


def test_down_purge_without_consent_keeps_everything(dev_settings: Settings) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    code, _, err = bot_db(dev_settings, "down", "--purge")
    assert code == 2 and "--yes" in err
    assert cluster_of(dev_settings).running_pid() is not None


def test_port_taken_by_another_program_names_the_port_and_setting(dev_settings: Settings) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", dev_settings.port))
        squatter.listen()
        code, out, err = bot_db(dev_settings, "up")
    assert code == 1
    assert f"port {dev_settings.port} on 127.0.0.1 is used by another program" in err
    assert "POSTGRES_PORT" in err
    assert "Traceback" not in out + err


def test_up_recovers_from_a_crashed_server_with_a_stale_pid_file(dev_settings: Settings) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    cluster = cluster_of(dev_settings)
    pid = cluster.running_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: cluster.running_pid() is None, timeout=10, what="the killed server gone")
    assert (cluster.pgdata / "postmaster.pid").exists()
    code, _out, err = bot_db(dev_settings, "up")
    assert (code, err) == (0, "")
    assert scalar(dev_settings, "SELECT count(*) FROM users") == 4


def test_up_recovers_from_a_half_initialised_data_directory(dev_settings: Settings) -> None:
    pgdata = dev_settings.data_dir / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("18\n")  # what an interrupted initdb leaves
    code, _, err = bot_db(dev_settings, "up")
    assert (code, err) == (0, "")
    assert scalar(dev_settings, "SELECT count(*) FROM guilds") == 2


def test_status_reports_server_revision_and_counts(dev_settings: Settings) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    code, out, _ = bot_db(dev_settings, "status")
    assert code == 0
    assert "running on 127.0.0.1" in out
    assert "users 4" in out


def test_status_of_a_stopped_server_fails_with_what_to_do(dev_settings: Settings) -> None:
    code, out, _ = bot_db(dev_settings, "status")
    assert code == 1
    assert "not created yet" in out
    assert "bot-db up" in out


def test_wrong_password_after_set_up_says_which_setting(dev_settings: Settings) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    wrong = dev_settings.model_copy(update={"postgres_password": SecretStr("not-it")})
    code, out, _ = bot_db(wrong, "check")
    assert code == 1
    assert "POSTGRES_PASSWORD" in out
    assert "not-it" not in out


def test_up_with_changed_credentials_says_how_to_recover(dev_settings: Settings) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    changed = dev_settings.model_copy(update={"postgres_password": SecretStr("changed-in-env")})
    code, out, err = bot_db(changed, "up")
    assert code == 1
    assert "created with other credentials" in err and "down --purge" in err
    assert "changed-in-env" not in out + err


def test_a_failed_start_quotes_the_servers_own_reason(dev_settings: Settings) -> None:
    assert bot_db(dev_settings, "up")[0] == 0
    assert bot_db(dev_settings, "down")[0] == 0
    conf = dev_settings.data_dir / "pgdata" / "postgresql.conf"
    conf.write_text(conf.read_text() + "\nshared_buffers = 'plenty'\n")
    code, out, err = bot_db(dev_settings, "up")
    assert code == 1
    assert "shared_buffers" in err
    assert str(dev_settings.data_dir / "postgres.log") in err
    assert "Traceback" not in out + err
