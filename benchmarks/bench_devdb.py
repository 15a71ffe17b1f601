"""`bot-db up` cold (no data folder) and warm (server running), against a bare server start.

The baseline is what any tool pays at least: the wheel's ``initdb`` plus
``pg_ctl start``, with nothing migrated or seeded. Both run as a contributor
runs them (a new process each time, data on disk), so imports count too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._harness import Bench
from bot_persistence.provision.base import free_port
from bot_persistence.provision.cluster import EmbeddedCluster

RUNS = 5


def _bot_db(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "bot_persistence", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run(bench: Bench) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-devdb-", dir=Path.cwd()))
    port = free_port()
    env = {
        **os.environ,
        "POSTGRES_PORT": str(port),
        "BOT_DB_DATA_DIR": str(scratch / "devdb"),
        "BOT_DB_BACKEND": "embedded",
        "DATABASE_URL": "",
    }
    clusters: list[EmbeddedCluster] = []

    def bare_start() -> None:
        cluster = EmbeddedCluster(scratch / "bare", port=port, user="bot", password="bench")
        clusters.append(cluster)
        cluster.ensure_initialized()
        cluster.start(timeout=30)

    def bare_clean() -> None:
        while clusters:
            clusters.pop().purge()

    def purge_dev() -> None:
        _bot_db(env, "down", "--purge", "--yes")

    try:
        bare = bench.time(
            "bare initdb + start (baseline)", bare_start, repeat=RUNS, teardown=bare_clean
        )
        cold = bench.time(
            "bot-db up, cold: create, migrate, seed, probe",
            lambda: _bot_db(env, "up"),
            repeat=RUNS,
            teardown=purge_dev,
        )
        _bot_db(env, "up")
        warm = bench.time(
            "bot-db up, warm: server running", lambda: _bot_db(env, "up"), repeat=RUNS
        )
        bench.record(bare)
        bench.record(cold, baseline=bare, bar=5.0, bar_seconds=True)
        bench.record(warm, bar=1.0)
    finally:
        purge_dev()
        bare_clean()
        shutil.rmtree(scratch, ignore_errors=True)
