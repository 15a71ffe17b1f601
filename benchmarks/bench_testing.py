"""The pytest plugin's costs: a server plus template from nothing, and per-test isolation.

Side by side, in one run:

- ready from nothing: the plugin's throw-away server plus the seeded template,
  cold (``initdb``) and with a warm cache (the last run's data directory); the
  baseline is a bare ``initdb`` + start, what any tool pays at least, and, when
  it is installed, pytest-postgresql's server start (``initdb`` + ``pg_ctl``).
- per test, over at least 100 tests: savepoint isolation (``db_session``), a
  template clone (``db_clean``), and the naive baseline, TRUNCATE of every
  table plus seeding again; and pytest-postgresql's per-test template clone
  (its ``DatabaseJanitor``) on the same server, when it is installed. The
  clone row with a first query shows what PostgreSQL adds to the first
  connection to a new database (it builds that database's relation cache).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from benchmarks._harness import Bench, Measurement
from bot_persistence.devdb.seeding import apply_seeds
from bot_persistence.devdb.target import Target
from bot_persistence.project import project_root
from bot_persistence.provision.base import free_port
from bot_persistence.provision.binaries import SYSTEM_USER, embedded_bin_dir
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.settings import Settings
from bot_persistence.testing import savepoint_session
from bot_persistence.testing.databases import TestDatabases
from bot_persistence.testing.server import RunDir, scratch_base

RUNS = 5
TESTS = 100
BATCHES = 3
TABLES = "playlist_tracks, playlists, tracks, user_preferences, guild_settings, guilds, users"


def _ready(run: RunDir) -> None:
    admin = run.embedded_server()
    TestDatabases(admin, run_id=run.run_id, root=project_root()).ensure_template("seeded")


def _ready_from_nothing(bench: Bench) -> None:
    runs: list[RunDir] = []

    def start(use_cache: bool) -> None:
        run = RunDir(f"bench-{uuid.uuid4().hex}", owner_pid=os.getpid(), use_cache=use_cache)
        runs.append(run)
        _ready(run)

    def finish() -> None:
        while runs:
            runs.pop().purge()

    bare_root = Path(tempfile.mkdtemp(prefix="bench-bare-", dir=scratch_base()))

    def bare() -> None:
        cluster = EmbeddedCluster(bare_root / "c", port=free_port(), user="bot", password="b")
        cluster.durable = False
        cluster.ensure_initialized()
        cluster.start(timeout=30)
        cluster.purge()

    try:
        baseline = bench.time("bare initdb + start, tmpfs (baseline)", bare, repeat=RUNS)
        cold = bench.time(
            "plugin: server + template, cold", lambda: start(False), repeat=RUNS, teardown=finish
        )
        warm = bench.time(
            "plugin: server + template, warm cache",
            lambda: start(True),
            repeat=RUNS,
            warmup=1,
            teardown=finish,
        )
    finally:
        finish()
        shutil.rmtree(bare_root, ignore_errors=True)
    bench.record(baseline)
    bench.record(cold, baseline=baseline, bar=2.0, bar_seconds=True)
    bench.record(warm, baseline=baseline, bar=2.0, bar_seconds=True)
    other = _pytest_postgresql_start()
    if other is not None:
        bench.record(other, baseline=baseline)


_PPG_START = """
import shutil, sys, tempfile, time
from pytest_postgresql.executors.proc import PostgreSQLExecutor
folder = tempfile.mkdtemp(dir=sys.argv[3])
executor = PostgreSQLExecutor(
    executable=sys.argv[1], host="127.0.0.1", port=int(sys.argv[2]),
    datadir=folder + "/data", unixsocketdir=folder, logfile=folder + "/log",
    startparams="-w", dbname="tests", password="bench",
)
started = time.perf_counter()
executor.start()
print(time.perf_counter() - started)
executor.stop()
shutil.rmtree(folder)
"""


def _pytest_postgresql_start() -> Measurement | None:
    """pytest-postgresql's ``postgresql_proc`` start, run as an unprivileged user when root.

    PostgreSQL refuses root, and pytest-postgresql runs ``pg_ctl`` as the
    current user; as root we run it as the wheel's system user, with an
    interpreter that user can read, or report that it cannot run here.
    """

    if importlib.util.find_spec("pytest_postgresql") is None:
        print("pytest-postgresql is not installed: its rows are left out", file=sys.stderr)
        return None
    pg_ctl = str(embedded_bin_dir() / "pg_ctl")
    site = next(p for p in sys.path if p.endswith("site-packages"))
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    script = Path(tempfile.mkdtemp(prefix="bench-ppg-", dir=scratch_base())) / "start.py"
    script.write_text(_PPG_START)
    script.parent.chmod(0o755)
    script.chmod(0o644)
    if as_root:  # the server's data goes in there, written by the system user
        shutil.chown(script.parent, SYSTEM_USER, SYSTEM_USER)
    samples: list[float] = []
    try:
        for _ in range(RUNS):
            sample = _one_start(script, pg_ctl, site, as_root)
            if sample is None:
                print(
                    "pytest-postgresql's server cannot start here: as root it needs an "
                    "interpreter the system user can run; its start row is left out",
                    file=sys.stderr,
                )
                return None
            samples.append(sample)
    finally:
        shutil.rmtree(script.parent, ignore_errors=True)
    return Measurement("pytest-postgresql: initdb + pg_ctl start", tuple(samples))


def _one_start(script: Path, pg_ctl: str, site: str, as_root: bool) -> float | None:
    # The venv's interpreter may live under a home the system user cannot enter;
    # a system Python of the same version can import the venv's packages instead.
    same = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [os.path.realpath(sys.executable), f"/usr/bin/{same}", f"/usr/local/bin/{same}"]
    for python in (c for c in candidates if Path(c).is_file()):
        try:
            result = subprocess.run(
                [python, str(script), pg_ctl, str(free_port()), str(script.parent)],
                user=SYSTEM_USER if as_root else None,
                env={"PYTHONPATH": site, "PATH": os.environ.get("PATH", "")},
                cwd=script.parent,
                capture_output=True,
                text=True,
                check=False,
            )
        except PermissionError:  # this interpreter is not readable by the system user
            continue
        if result.returncode == 0:
            return float(result.stdout.strip().splitlines()[-1])
    return None


def _per_test(bench: Bench) -> None:
    run = RunDir(f"bench-{uuid.uuid4().hex}", owner_pid=os.getpid(), use_cache=False)
    try:
        databases = TestDatabases(run.embedded_server(), run_id=run.run_id, root=project_root())
        worker = databases.clone("seeded")
        engine = create_engine(databases.settings_for(worker).url, pool_size=2)
        engine.dispose()
        _per_test_on(bench, databases, engine)
        engine.dispose()
    finally:
        run.purge()


def _per_test_on(bench: Bench, databases: TestDatabases, engine: Engine) -> None:
    def savepoint_tests() -> None:
        for _ in range(TESTS):
            with savepoint_session(engine) as session:
                session.execute(text("SELECT 1"))

    def clone_tests() -> None:
        for _ in range(TESTS):
            databases.drop(databases.clone("seeded"))

    def clone_and_query_tests() -> None:
        for _ in range(TESTS):
            name = databases.clone("seeded")
            clone = create_engine(databases.settings_for(name).url, poolclass=NullPool)
            with clone.connect() as conn:
                conn.execute(text("SELECT 1"))
            clone.dispose()
            databases.drop(name)

    truncate_settings = databases.settings_for(engine.url.database or "")
    seeds = project_root() / "seeds"

    def truncate_tests() -> None:
        for _ in range(TESTS):
            with engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
            with Target(truncate_settings) as target:
                apply_seeds(target, folder=seeds)

    savepoint = bench.time("savepoint (db_session), per test", savepoint_tests, repeat=BATCHES)
    clone = bench.time("template clone + drop (db_clean), per test", clone_tests, repeat=BATCHES)
    clone_query = bench.time(
        "  same + a new engine's first query, per test", clone_and_query_tests, repeat=BATCHES
    )
    truncate = bench.time(
        "TRUNCATE all + seed again (baseline), per test", truncate_tests, repeat=BATCHES
    )
    bench.record(truncate, per=TESTS)
    bench.record(savepoint, baseline=truncate, bar=0.002, bar_seconds=True, per=TESTS)
    bench.record(clone, baseline=truncate, bar=0.050, bar_seconds=True, per=TESTS)
    bench.record(clone_query, baseline=truncate, per=TESTS)
    janitor = _pytest_postgresql_per_test(bench, databases)
    if janitor is not None:
        bench.record(janitor, baseline=truncate, per=TESTS)


def _pytest_postgresql_per_test(bench: Bench, databases: TestDatabases) -> Measurement | None:
    if importlib.util.find_spec("pytest_postgresql") is None:
        return None
    from pytest_postgresql.janitor import DatabaseJanitor

    admin: Settings = databases.admin
    template = databases.ensure_template("seeded")

    def janitor_tests() -> None:
        for number in range(TESTS):
            with DatabaseJanitor(
                user=admin.user,
                host=admin.host,
                port=admin.port,
                password=admin.password,
                dbname=f"ppg_bench_{number}",
                template_dbname=template,
                version=18,
            ):
                pass

    return bench.time(
        "pytest-postgresql janitor: clone + drop, per test", janitor_tests, repeat=BATCHES
    )


_ONE_TEST = """
def test_one(db_session):
    assert db_session.connection() is not None
"""

_NO_DATABASE = """
def test_one():
    assert True
"""


def _whole_pytest_run(bench: Bench) -> None:
    """What a contributor waits for: ``pytest`` on one database test, as a new process."""
    folder = Path(tempfile.mkdtemp(prefix="bench-pytest-", dir=Path.cwd()))
    (folder / "test_db.py").write_text(_ONE_TEST)
    (folder / "test_plain.py").write_text(_NO_DATABASE)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BOT_DB_BACKEND")}

    def pytest_run(*args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
            cwd=folder,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    try:
        plain = bench.time(
            "pytest, one test, no database (baseline)",
            lambda: pytest_run("test_plain.py"),
            repeat=RUNS,
        )
        cold = bench.time(
            "pytest, one db_session test, cold",
            lambda: pytest_run("test_db.py", "--db-fresh-server"),
            repeat=RUNS,
        )
        warm = bench.time(
            "pytest, one db_session test, warm cache",
            lambda: pytest_run("test_db.py"),
            repeat=RUNS,
            warmup=1,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    bench.record(plain)
    bench.record(cold, baseline=plain)
    bench.record(warm, baseline=plain)


def run(bench: Bench) -> None:
    _ready_from_nothing(bench)
    _whole_pytest_run(bench)
    _per_test(bench)
