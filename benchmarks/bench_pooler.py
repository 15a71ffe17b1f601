"""Shard processes making repository calls, direct and through PgBouncer (transaction mode).

For N = 1, 4 and 8 shard processes, each makes ``CALLS`` mixed repository
calls from 8 concurrent tasks (:mod:`bot_persistence.devdb.shard_load`), once
connected straight to the server and once through a throw-away PgBouncer in
transaction pooling mode in front of the same server, in the same run. The
processes connect first and start together on a signal, so start-up is not
timed. A row's time is the wall time per call (the slowest shard's elapsed
over all calls); its baseline is the direct run with the same N, so the ratio
is through/direct. The notes give calls per second and p99 latency, medians
over ``REPEAT`` runs.

The server is a throw-away embedded one on tmpfs with durability off, with
``max_connections`` raised so that 8 direct shards' pools fit (with the
default 50 they do not: the connection budget in docs/production.md). Skipped,
saying so, without ``pgbouncer``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._harness import Bench, Measurement
from bot_persistence import migrations
from bot_persistence.provision.base import ensure_database, free_port
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.provision.pgbouncer import pgbouncer_binary, throwaway_pgbouncer
from bot_persistence.provision.scratch import scratch_root
from bot_persistence.settings import Settings

SHARDS = (1, 4, 8)
CALLS = 400
REPEAT = 3


def _one_run(settings: Settings, shards: int) -> tuple[float, float, float]:
    """(wall seconds per call, calls per second, p99 ms) of ``shards`` processes run together."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.url.render_as_string(hide_password=False),
        "BOT_DB_POOLER": settings.pooler,
    }
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot_persistence.devdb.shard_load",
                "--shard",
                str(shard),
                "--calls",
                str(CALLS),
                "--wait",
            ],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for shard in range(shards)
    ]
    try:
        for process in processes:  # each says "ready" once connected and set up
            assert process.stdout is not None
            line = process.stdout.readline().strip()
            if line != "ready":
                raise RuntimeError(f"a shard process did not get ready: {line!r}")
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        results = []
        for process in processes:
            out, _ = process.communicate(timeout=600)
            results.append(json.loads(out))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
    errors = [e for r in results for e in r["errors"]]
    if errors:
        raise RuntimeError(f"{len(errors)} call(s) failed, first: {errors[0]}")
    wall = max(r["elapsed"] for r in results)
    latencies = sorted(ms for r in results for ms in r["latencies_ms"])
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    total = CALLS * shards
    return wall / total, total / wall, p99


def _measure(bench: Bench, direct: Settings, through: Settings) -> None:
    for shards in SHARDS:
        figures: dict[str, list[tuple[float, float, float]]] = {"direct": [], "pgbouncer": []}
        for _ in range(REPEAT):  # interleaved, so a burst of load elsewhere hits both sides
            figures["direct"].append(_one_run(direct, shards))
            figures["pgbouncer"].append(_one_run(through, shards))
        rows = {
            side: Measurement(
                f"{shards} shard(s) x {CALLS} calls, {side}, per call",
                tuple(per_call for per_call, _, _ in runs),
            )
            for side, runs in figures.items()
        }
        bench.record(rows["pgbouncer"], baseline=rows["direct"])
        rate = {s: statistics.median(r for _, r, _ in runs) for s, runs in figures.items()}
        p99 = {s: statistics.median(p for _, _, p in runs) for s, runs in figures.items()}
        bench.note(
            f"N={shards}: direct {rate['direct']:.0f} calls/s, p99 {p99['direct']:.1f} ms; "
            f"pgbouncer {rate['pgbouncer']:.0f} calls/s, p99 {p99['pgbouncer']:.1f} ms; "
            f"through/direct calls/s {rate['pgbouncer'] / rate['direct']:.2f}x, "
            f"p99 {p99['pgbouncer'] / p99['direct']:.2f}x"
        )


def run(bench: Bench) -> None:
    if pgbouncer_binary() is None:
        bench.note("skipped: pgbouncer is not installed (apt-get install pgbouncer)")
        return
    root = Path(tempfile.mkdtemp(prefix="bench-pooler-", dir=scratch_root()))
    password = "bench-password"
    # Room for 8 direct shards' pools (8 x 10); through PgBouncer 20 suffice.
    cluster = EmbeddedCluster(
        root,
        port=free_port(),
        user="bot",
        password=password,
        durable=False,
        max_connections=8 * 10 + 10,
    )
    try:
        cluster.ensure_initialized()
        cluster.start(timeout=30)
        direct = Settings.from_values(
            postgres_port=cluster.port,
            postgres_db="bench",
            postgres_password=password,
            backend="external",
        )
        ensure_database(direct)
        migrations.upgrade(direct)
        with throwaway_pgbouncer(direct, pool_mode="transaction") as through:
            _measure(bench, direct, through)
    finally:
        cluster.purge()
        shutil.rmtree(root, ignore_errors=True)
