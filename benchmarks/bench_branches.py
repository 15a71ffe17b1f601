"""Branch databases: switching to a known branch's, and creating a new one from its parent's.

Both beside the baseline, a bare ``CREATE DATABASE ... TEMPLATE`` of the same
migrated, seeded database on the same server in the same run: what any copy
costs at least. The branch work is what ``bot-db`` adds to every command and to
``up``: asking git which branch is out (``resolve``), then on the server finding
the branch's database and marking it used, or choosing the parent, checking its
revision and copying it (``ensure``). The dev server is the contributor's kind:
embedded, data on disk.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from psycopg import sql

from benchmarks._harness import Bench
from bot_persistence import devdb
from bot_persistence.connection import admin_url, connected_engine
from bot_persistence.devdb import branch_databases, branches
from bot_persistence.devdb.target import Target
from bot_persistence.project import project_root
from bot_persistence.provision.base import free_port
from bot_persistence.provision.embedded import EmbeddedBackend
from bot_persistence.settings import Settings

RUNS = 15


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def _repository(scratch: Path) -> Path:
    """A git repository with the project's migrations, on ``main``, and a branch ``known``."""
    source = project_root()
    repo = scratch / "repo"
    repo.mkdir()
    shutil.copy(source / "alembic.ini", repo / "alembic.ini")
    shutil.copytree(
        source / "alembic", repo / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.email=b@example.invalid", "-c", "user.name=b", "commit", "-qm", "x")
    _git(repo, "branch", "known")
    return repo


def _execute(settings: Settings, statement: sql.Composable) -> None:
    with (
        connected_engine(settings, url=admin_url(settings)) as engine,
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
    ):
        conn.exec_driver_sql(statement.as_string())


def run(bench: Bench) -> None:
    # The system's temporary folder, outside the checkout: git must not see the scratch.
    scratch = Path(tempfile.mkdtemp(prefix="bench-branches-"))
    settings = Settings.from_values(
        postgres_port=free_port(), backend="embedded", data_dir=scratch / "devdb"
    )
    backend = EmbeddedBackend(settings)
    try:
        with Target(settings) as default:
            devdb.up(default)  # the default branch's database: migrated and seeded
        repo = _repository(scratch)

        def bare_copy() -> None:
            _execute(settings, sql.SQL("CREATE DATABASE bench_copy TEMPLATE bot"))

        def drop_bare() -> None:
            _execute(settings, sql.SQL("DROP DATABASE bench_copy"))

        def on(branch: str) -> None:
            _git(repo, "checkout", "-q", branch)

        def switch_known() -> None:
            branch = branches.resolve(settings, repo)
            assert branch is not None and branch.branch == "known"
            with Target(settings, branch) as target:
                assert not branch_databases.ensure(target).created

        def create_new() -> None:
            branch = branches.resolve(settings, repo)
            assert branch is not None and branch.branch == "new"
            with Target(settings, branch) as target:
                assert branch_databases.ensure(target).parent == "main"

        def drop_new() -> None:
            branch = branches.resolve(settings, repo)
            assert branch is not None
            with Target(settings, branch) as target:
                branch_databases.drop(target, [target.database])

        bare = bench.time(
            "bare CREATE DATABASE ... TEMPLATE (baseline)",
            bare_copy,
            repeat=RUNS,
            teardown=drop_bare,
        )
        on("known")
        create_new_known = branches.resolve(settings, repo)
        assert create_new_known is not None
        with Target(settings, create_new_known) as target:
            branch_databases.ensure(target)
        known = bench.time("switch to a known branch's database", switch_known, repeat=RUNS)
        _git(repo, "checkout", "-q", "-b", "new", "main")
        new = bench.time(
            "new branch's database from its parent's", create_new, repeat=RUNS, teardown=drop_new
        )
        bench.record(bare)
        bench.record(known, baseline=bare, bar=1.0, bar_seconds=True)
        bench.record(new, baseline=bare, bar=3.0)
    finally:
        backend.down(purge=True)
        shutil.rmtree(scratch, ignore_errors=True)
