"""Telling a running process from one that has exited but was never reaped."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot_persistence.provision.base import is_zombie, pid_alive
from bot_persistence.provision.processes import is_postgres_process
from tests.helpers import wait_until

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="zombies are read from /proc")


def test_an_unreaped_dead_process_is_not_alive() -> None:
    # Our own child, killed and not yet waited for, is what a server killed with
    # kill -9 is where no init reaps orphans: still in the process table.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        assert not is_zombie(child.pid)
        child.kill()
        wait_until(lambda: is_zombie(child.pid), timeout=10, what="the child to exit")
        assert not pid_alive(child.pid)
        assert not is_postgres_process(child.pid)
    finally:
        child.kill()
        child.wait()


def test_a_process_that_is_gone_is_neither_alive_nor_a_zombie() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    assert not is_zombie(child.pid)


def test_the_proc_answer_agrees_with_psutil(tmp_path: Path) -> None:
    # is_postgres_process reads /proc on Linux, so a warm `up` needs no psutil;
    # psutil is what it stands in for: the two must agree.
    import psutil

    def psutil_says(pid: int) -> bool:
        try:
            process = psutil.Process(pid)
            return process.status() != psutil.STATUS_ZOMBIE and "postgres" in process.name()
        except psutil.Error:
            return False

    named = tmp_path / "postgres"
    named.symlink_to(shutil.which("sleep") or "/bin/sleep")
    server_like = subprocess.Popen([str(named), "60"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    try:
        wait_until(lambda: psutil_says(server_like.pid), timeout=10, what="the server to exec")
        for pid, expected in ((server_like.pid, True), (other.pid, False), (gone.pid, False)):
            assert is_postgres_process(pid) is psutil_says(pid) is expected
        server_like.kill()
        wait_until(lambda: is_zombie(server_like.pid), timeout=10, what="the server to exit")
        assert is_postgres_process(server_like.pid) is psutil_says(server_like.pid) is False
    finally:
        for child in (server_like, other):
            child.kill()
            child.wait()
