"""The test suite's wall time, serial against parallel (what ``nox -s tests`` runs).

The suite as ``nox -s tests`` runs it (``-m "not docker"``), once with
``-n 0`` (one process) and once with ``-n auto`` (one xdist worker per core,
sharing the plugin's one server), in the same run on the same machine. The
serial run is the baseline; the ratio is the speed-up. Each sample is a whole
suite, so the default is three of each (``BENCH_SUITE_RUNS`` changes it).
"""

from __future__ import annotations

import os
import subprocess
import sys

from benchmarks._harness import Bench
from bot_persistence.project import project_root

SUITE = ("-m", "not docker", "-q", "-p", "no:cacheprovider")


def _pytest(workers: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pytest", *SUITE, "-n", workers],
        cwd=project_root(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run(bench: Bench) -> None:
    runs = int(os.environ.get("BENCH_SUITE_RUNS", "3"))
    serial = bench.time("test suite, serial: -n 0 (baseline)", lambda: _pytest("0"), repeat=runs)
    parallel = bench.time(
        f"test suite, parallel: -n auto ({os.cpu_count()} cores)",
        lambda: _pytest("auto"),
        repeat=runs,
    )
    bench.record(serial)
    bench.record(parallel, baseline=serial, bar=60.0, bar_seconds=True)
