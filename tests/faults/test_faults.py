"""Fault injection: kill the server, interrupt the CLI, race it, fill its disk, damage its files.

Each case runs ``bot-db`` as a real process against a real embedded dev
server, breaks something at a random moment, and then checks two things:
the command ended as every command must (exit 0, 1, 2, 130 or 143; at most
one error line; no traceback), and ``bot-db up`` recovers with the data
committed before the fault still there. The random moments come from
``BOT_DB_FAULTS_SEED`` (printed with every failure), so a failing case can be
replayed exactly.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool
from tests.helpers import PASSWORD, make_settings, wait_until

from bot_persistence.provision.base import free_port
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.provision.scratch import scratch_root
from bot_persistence.settings import Settings

SEED = int(os.environ.get("BOT_DB_FAULTS_SEED", "20261202"))
#: Exit codes a command may end with: ok, failed check, usage, SIGINT, SIGTERM.
ENDINGS = {0, 1, 2, 130, 143}
MARKER_ID = 77
#: Commands to break, as a contributor types them (the snapshot "keep" holds the marker).
COMMANDS = {
    "up": ["up"],
    "reset": ["reset", "--yes", "--no-snapshot"],
    "migrate": ["migrate"],
    "restore": ["snapshot", "restore", "keep", "--yes"],
}


def moment(case: str, low: float = 0.1, high: float = 2.5) -> float:
    """The random moment (seconds after the start) at which ``case`` breaks something."""
    return random.Random(f"{SEED}:{case}").uniform(low, high)  # noqa: S311 - not for secrets


@dataclasses.dataclass
class Dev:
    """A dev server of the suite's own, driven through ``bot-db`` processes."""

    settings: Settings
    root: Path

    @property
    def env(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("POSTGRES_", "BOT_DB_", "PG")) and name != "DATABASE_URL"
        }
        env.update(
            POSTGRES_PORT=str(self.settings.port),
            POSTGRES_PASSWORD=PASSWORD,
            BOT_DB_DATA_DIR=str(self.settings.data_dir),
            BOT_DB_BACKEND="embedded",
            BOT_DB_STARTUP_TIMEOUT="60",
            BOT_DB_BRANCH_DATABASES="false",  # the database the suite's settings name
        )
        return env

    def start(self, *argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "bot_persistence", *argv],
            cwd=self.root,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *argv: str) -> tuple[int, str, str]:
        process = self.start(*argv)
        out, err = process.communicate(timeout=300)
        return process.returncode, out, err

    @property
    def cluster(self) -> EmbeddedCluster:
        return EmbeddedCluster(
            self.settings.data_dir, port=self.settings.port, user="bot", password=PASSWORD
        )

    def sql(self, statement: str, **params: object) -> object:
        """Run one statement in its own transaction; its first value when it returns rows."""
        engine = create_engine(self.settings.url, poolclass=NullPool)
        try:
            with engine.begin() as conn:
                result = conn.execute(text(statement), params)
                return result.scalar() if result.returns_rows else None
        finally:
            engine.dispose()

    def marker(self) -> object:
        return self.sql("SELECT username FROM users WHERE id = :id", id=MARKER_ID)

    def commit_marker(self) -> None:
        self.sql(
            "INSERT INTO users (id, username) VALUES (:id, 'committed') "
            "ON CONFLICT (id) DO NOTHING",
            id=MARKER_ID,
        )


def new_dev(prefix: str) -> Dev:
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=scratch_root()))
    settings = make_settings(free_port(), "bot", backend="embedded", data_dir=root / "devdb")
    return Dev(settings=settings, root=root)


def remove(dev: Dev) -> None:
    dev.run("down", "--purge", "--yes")
    shutil.rmtree(dev.root, ignore_errors=True)


@pytest.fixture(scope="module")
def dev() -> Iterator[Dev]:
    """One warm dev server for the module, with the marker row and a snapshot holding it."""
    made = new_dev("bp-faults-")
    try:
        code, _, err = made.run("up")
        assert code == 0, err
        made.commit_marker()
        code, _, err = made.run("snapshot", "save", "keep", "--yes")
        assert code == 0, err
        yield made
    finally:
        remove(made)


def ended_well(case: str, code: int, out: str, err: str) -> None:
    """The command ended as any command must, whatever was done to it."""
    where = f"{case} (BOT_DB_FAULTS_SEED={SEED})"
    assert code in ENDINGS, f"{where}: exit {code}: {err[-2000:]}"
    assert "Traceback" not in out + err, f"{where}: {err[-3000:]}"
    errors = [line for line in err.splitlines() if line.startswith("bot-db: error")]
    assert len(errors) <= 1, f"{where}: {errors}"
    if code not in (0, 130, 143):
        assert errors or "✗" in out, f"{where}: failed without saying why: {out}{err}"


def recovered(dev: Dev, case: str, *, keeps_marker: bool = True) -> None:
    """``bot-db up`` brings it back, healthy, with the committed row (unless it was reset)."""
    code, out, err = dev.run("up")
    assert code == 0, f"{case} (BOT_DB_FAULTS_SEED={SEED}): up after the fault: {out}{err}"
    code, out, err = dev.run("check")
    assert code == 0, f"{case}: check after recovery: {out}{err}"
    assert not list(dev.settings.data_dir.glob("pw-*")), f"{case}: a password file is left"
    if keeps_marker:
        assert dev.marker() == "committed", f"{case}: the committed row was lost"
    dev.commit_marker()


def _running_our_code(process: subprocess.Popen[str]) -> bool:
    """True once ``bot-db`` has its signal handling: it is loading pydantic's compiled core.

    Before that, the interpreter itself is starting (runpy, importlib), and an
    interrupt there is Python's own traceback, which no program can prevent.
    """
    if process.poll() is not None:
        return True
    try:
        return "pydantic_core" in Path(f"/proc/{process.pid}/maps").read_text()
    except OSError:
        return True


def interrupted_at(dev: Dev, argv: list[str], delay: float, act: object) -> tuple[int, str, str]:
    """Start ``bot-db argv``; ``delay`` s after its own code runs, unless it ended, ``act``."""
    process = dev.start(*argv)
    wait_until(lambda: _running_our_code(process), timeout=60, what="bot-db loading")
    try:
        process.wait(timeout=delay)  # the random moment; it may finish before it
    except subprocess.TimeoutExpired:
        act(process)  # type: ignore[operator]
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def _kill_server(dev: Dev) -> None:
    pid = dev.cluster.running_pid()
    if pid is not None:
        os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("attempt", [1, 2])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_kill_9_of_the_server_during_a_command(dev: Dev, command: str, attempt: int) -> None:
    case = f"kill-9-server-{command}-{attempt}"
    code, out, err = interrupted_at(
        dev, COMMANDS[command], moment(case), lambda _process: _kill_server(dev)
    )
    ended_well(case, code, out, err)
    # A killed server is refused connections, not a mystery: say so, name the next step.
    assert "unexpected database error" not in err, f"{case}: {err}"
    recovered(dev, case, keeps_marker=command != "reset")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_interrupting_the_cli_during_a_command(dev: Dev, command: str, sig: signal.Signals) -> None:
    case = f"{sig.name}-cli-{command}"
    code, out, err = interrupted_at(
        dev, COMMANDS[command], moment(case), lambda process: process.send_signal(sig)
    )
    ended_well(case, code, out, err)
    if code in (130, 143):
        assert code == (130 if sig == signal.SIGINT else 143), case
    recovered(dev, case, keeps_marker=command != "reset")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupting_a_cold_up(sig: signal.Signals) -> None:
    case = f"{sig.name}-cli-cold-up"
    cold = new_dev("bp-faults-cold-")
    try:
        code, out, err = interrupted_at(
            cold, ["up"], moment(case, 0.3, 4.0), lambda process: process.send_signal(sig)
        )
        ended_well(case, code, out, err)
        recovered(cold, case, keeps_marker=False)
        for folder in (cold.settings.data_dir, cold.settings.data_dir / "pgdata"):
            assert folder.stat().st_mode & 0o777 == 0o700, folder
    finally:
        remove(cold)


@pytest.mark.parametrize("count", [2, 4])
def test_concurrent_cold_ups_take_turns_and_all_succeed(count: int) -> None:
    cold = new_dev("bp-faults-race-")
    try:
        processes = [cold.start("up") for _ in range(count)]
        results = [(p.wait(timeout=300), *p.communicate(timeout=10)) for p in processes]
        for index, (code, out, err) in enumerate(results):
            assert code == 0, f"up {index + 1} of {count}: {out}{err}"
        assert cold.sql("SELECT count(*) FROM users") == 4  # seeded once, not per up
    finally:
        remove(cold)


@pytest.mark.parametrize("count", [2, 4])
def test_concurrent_migrates_all_succeed(dev: Dev, count: int) -> None:
    processes = [dev.start("migrate") for _ in range(count)]
    for index, process in enumerate(processes):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, f"migrate {index + 1} of {count}: {out}{err}"
    recovered(dev, f"concurrent-migrate-{count}")


def test_a_garbage_pid_file_beside_the_running_server(dev: Dev) -> None:
    pid_file = dev.cluster.pgdata / "postmaster.pid"
    pid_file.write_text("not a pid\n")
    code, out, err = dev.run("status")
    ended_well("garbage-pid-status", code, out, err)
    assert "postmaster.pid is damaged" in out
    recovered(dev, "garbage-pid")


def _fill(folder: Path) -> Path:
    """Write one file into ``folder`` until the disk under it is full."""
    filler = folder / "filler"

    def write_until_full() -> None:
        chunk = b"\0" * (1 << 20)
        with filler.open("wb") as handle:
            while True:
                handle.write(chunk)
                handle.flush()

    with pytest.raises(OSError) as full:  # noqa: PT011 - the errno is checked below
        write_until_full()
    assert full.value.errno == errno.ENOSPC, full.value
    return filler


@pytest.fixture
def small_disk() -> Iterator[Path]:
    """A 160 MB tmpfs mounted for this test (root, or sudo); skipped without, failed in CI."""
    mount = Path(tempfile.mkdtemp(prefix="bp-faults-disk-", dir=tempfile.gettempdir()))
    # Root mounts it; a CI runner that is not root may through passwordless sudo.
    as_root = [] if os.geteuid() == 0 else ["sudo", "-n"]
    options = f"size=160m,mode=0755,uid={os.geteuid()},gid={os.getegid()}"
    done = subprocess.run(
        [*as_root, "mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        mount.rmdir()
        reason = f"cannot mount a small tmpfs here ({done.stderr.strip() or 'not root'})"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must run this case as root")
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run([*as_root, "umount", "-l", str(mount)], check=False)
        mount.rmdir()


def test_a_full_disk_is_named_and_up_recovers_once_space_is_freed(small_disk: Path) -> None:
    full = Dev(
        settings=make_settings(
            free_port(), "bot", backend="embedded", data_dir=small_disk / "devdb"
        ),
        root=small_disk,
    )
    try:
        code, out, err = full.run("up")
        assert code == 0, out + err
        full.commit_marker()
        filler = _fill(small_disk)
        with pytest.raises(Exception):  # noqa: B017, PT011 - whichever way the server says it
            full.sql(
                "INSERT INTO users (id, username) "
                "SELECT g, 'u' || g FROM generate_series(1000, 400000) g"
            )
        code, out, err = full.run("check")
        ended_well("disk-full-check", code, out, err)
        assert code == 1, out + err
        assert "is full" in out + err and str(small_disk) in out + err
        filler.unlink()
        wait_until(lambda: shutil.disk_usage(small_disk).free > 64 << 20, timeout=5, what="space")
        recovered(full, "disk-full")
    finally:
        full.run("down", "--purge", "--yes")
