"""`nox -s docs-check`'s work (a new process checking every doc) against importing the CLI.

The baseline is what any command that reads the schema pays before doing
anything: a new interpreter importing the settings and the models (SQLAlchemy,
pydantic). ``import bot_persistence.cli`` alone no longer is that: the command
line loads its commands lazily. docs-check adds reading the docs, the parser,
the noxfile and generating the ER diagram; it should stay a small multiple of
that, cheap enough for CI and for running before every push.
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
        "new process importing the settings and the models (baseline)",
        lambda: _python("-c", "import bot_persistence.models, bot_persistence.settings"),
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
