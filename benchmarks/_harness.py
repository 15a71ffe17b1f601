"""The measuring harness every benchmark shares: medians, and ratios to a baseline.

A benchmark module ``bench_<topic>.py`` exposes ``run(bench: Bench) -> None``.
It times the thing under test *and* its baseline in the same run (same machine,
same load), then records both; the report prints medians, the ratio to the
baseline, and the bar the ratio must stay under. Figures, not pass/fail tests:
the process exits non-zero only when asked to enforce the bars (``--strict``).
"""

from __future__ import annotations

import dataclasses
import gc
import statistics
import time
from collections.abc import Callable

__all__ = ["Bench", "Measurement"]


@dataclasses.dataclass(frozen=True)
class Measurement:
    """All samples of one timed thing, in seconds."""

    name: str
    samples: tuple[float, ...]

    @property
    def median(self) -> float:
        """The median sample: robust to one slow outlier on a busy machine."""
        return statistics.median(self.samples)


@dataclasses.dataclass
class _Row:
    topic: str
    measurement: Measurement
    baseline: Measurement | None
    bar: float | None
    unit_per: int
    bar_on_ratio: bool

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline.median == 0:
            return None
        return self.measurement.median / self.baseline.median

    @property
    def within_bar(self) -> bool | None:
        if self.bar is None:
            return None
        if self.bar_on_ratio and self.ratio is not None:
            return self.ratio <= self.bar
        return self.measurement.median / self.unit_per <= self.bar


class Bench:
    """Times callables and collects rows for the report."""

    def __init__(self) -> None:
        self.rows: list[_Row] = []
        self.notes: list[str] = []
        self.topic = ""

    def time(
        self,
        name: str,
        fn: Callable[[], object],
        *,
        repeat: int = 5,
        warmup: int = 0,
        setup: Callable[[], object] | None = None,
        teardown: Callable[[], object] | None = None,
    ) -> Measurement:
        """Run ``fn`` ``repeat`` times (after ``warmup`` untimed runs); ``setup`` is not timed."""
        for _ in range(warmup):
            if setup:
                setup()
            fn()
            if teardown:
                teardown()
        samples = []
        for _ in range(repeat):
            if setup:
                setup()
            gc.collect()
            started = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - started)
            if teardown:
                teardown()
        return Measurement(name, tuple(samples))

    def time_pair(
        self,
        name: str,
        fn: Callable[[], object],
        baseline_name: str,
        baseline: Callable[[], object],
        *,
        repeat: int = 5,
        warmup: int = 0,
    ) -> tuple[Measurement, Measurement]:
        """Time ``fn`` and ``baseline`` in alternating pairs (AB, BA, AB, ...).

        On a machine others share, load drifts within seconds: timing all of one
        side and then all of the other would charge the drift to whichever ran
        second, while each pair of adjacent runs sees about the same load.
        """
        for _ in range(warmup):
            fn()
            baseline()
        ours: list[float] = []
        theirs: list[float] = []
        for index in range(repeat):
            order = ((fn, ours), (baseline, theirs))
            for run, samples in order if index % 2 == 0 else reversed(order):
                gc.collect()
                started = time.perf_counter()
                run()
                samples.append(time.perf_counter() - started)
        return Measurement(name, tuple(ours)), Measurement(baseline_name, tuple(theirs))

    def record(
        self,
        measurement: Measurement,
        *,
        baseline: Measurement | None = None,
        bar: float | None = None,
        bar_seconds: bool = False,
        per: int = 1,
    ) -> None:
        """Add a row: ``bar`` bounds the ratio to ``baseline``, or the median in seconds
        when there is no baseline or ``bar_seconds``; ``per`` divides the median (and
        the baseline's) for per-item figures."""
        on_ratio = baseline is not None and not bar_seconds
        self.rows.append(_Row(self.topic, measurement, baseline, bar, per, on_ratio))

    def note(self, text: str) -> None:
        """A line under the table, for figures that are not times (rates, percentiles)."""
        self.notes.append(f"{self.topic}: {text}")

    def report(self) -> str:
        """The table people read: median, baseline median, ratio, bar."""
        lines = [
            f"{'benchmark':<52} {'median':>10} {'baseline':>10} {'ratio':>7} {'bar':>9}  n",
        ]
        for row in self.rows:
            median = row.measurement.median / row.unit_per
            base = row.baseline.median / row.unit_per if row.baseline else None
            ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
            bar = "-"
            if row.bar is not None:
                mark = "ok" if row.within_bar else "OVER"
                bar = f"{row.bar:g}{'x' if row.bar_on_ratio else 's'} {mark}"
            label = f"{row.topic}: {row.measurement.name}"
            lines.append(
                f"{label:<52} {_fmt(median):>10} {_fmt(base) if base is not None else '-':>10} "
                f"{ratio:>7} {bar:>9}  {len(row.measurement.samples)}"
            )
        if self.notes:
            lines += ["", *self.notes]
        return "\n".join(lines)

    @property
    def all_within_bars(self) -> bool:
        """False when any row with a bar is over it."""
        return all(row.within_bar is not False for row in self.rows)


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"
