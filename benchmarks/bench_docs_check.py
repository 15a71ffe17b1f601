"""`nox -s docs-check`'s work (a new process checking every doc) against importing the CLI.

The baseline is what any ``bot-db`` invocation pays before doing anything: a
new interpreter importing the package (SQLAlchemy, pydantic, the models).
docs-check adds reading the docs, the parser, the noxfile and generating the
ER diagram; it should stay a small multiple of that, cheap enough for CI and
for running before every push.
"""

from __future__ import annotations

import subprocess
import sys

from benchmarks._harness import Bench

RUNS = 5


def _python(*args: str) -> None:
    # docs-check exits 1 while the docs name commands of unmerged work; the time counts.
    subprocess.run(
        [sys.executable, *args], check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def run(bench: Bench) -> None:
    baseline = bench.time(
        "new process importing bot_persistence.cli (baseline)",
        lambda: _python("-c", "import bot_persistence.cli"),
        repeat=RUNS,
        warmup=1,
    )
    check = bench.time(
        "docs-check: every doc, .env.example, ERD, errors",
        lambda: _python("-m", "bot_persistence.devtools.docs_check"),
        repeat=RUNS,
        warmup=1,
    )
    bench.record(baseline)
    bench.record(check, baseline=baseline, bar=3.0)
