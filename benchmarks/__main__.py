"""Run the benchmarks: ``python -m benchmarks [TOPIC ...] [--strict]`` (``nox -s bench``).

Each ``benchmarks/bench_<topic>.py`` measures one area against a baseline in
the same run; this prints one table for all of them.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from benchmarks._harness import Bench


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("topics", nargs="*", help="topics to run (default: all)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a bar is exceeded")
    args = parser.parse_args(argv)
    here = Path(__file__).parent
    topics = sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules([str(here)])
        if info.name.startswith("bench_")
    )
    unknown = set(args.topics) - set(topics)
    if unknown:
        parser.error(f"unknown topic(s) {', '.join(sorted(unknown))}; known: {', '.join(topics)}")
    bench = Bench()
    for topic in args.topics or topics:
        module = importlib.import_module(f"benchmarks.bench_{topic}")
        bench.topic = topic
        print(f"running {topic} ...", file=sys.stderr, flush=True)
        module.run(bench)
    print(bench.report())
    return 0 if bench.all_within_bars or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
