"""Telling a running process from one that has exited but was never reaped."""

from __future__ import annotations

import subprocess
import sys

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
