"""The onboarding checklist a new contributor runs once: ``nox -s onboarding``.

It walks the path the README promises (prerequisites, ``bot-db up``, ``bot-db
check``, the smoke flows, the quick tests), prints a ✓/✗ line per step with its
time, compares the total with the five-minute goal, and records the run in
``.bot-db/onboarding.json`` (git-ignored) so a maintainer can collect the files
and see who got set up, how long it took and what failed. A run that passed
also writes ``.onboarding/<you>.json`` (git identity only), which the
contributor commits: ``nox -s adoption`` counts those (see
:mod:`bot_persistence.devtools.adoption`).

Every step calls what a contributor would type (``bot-db`` through
:func:`bot_persistence.cli.main`, pytest in a subprocess); nothing here is a
second implementation of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import io
import json
import platform
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, TextIO

from bot_persistence.cli.output import Console
from bot_persistence.devtools.adoption import git_identity, write_record
from bot_persistence.devtools.command_catalog import CommandSpec
from bot_persistence.provision.engine import TIMED_OUT, engine_version, run_command

__all__ = [
    "GOAL_SECONDS",
    "Checklist",
    "Step",
    "StepResult",
    "default_steps",
    "main",
    "record",
    "run_steps",
]

#: The promise: from a fresh clone to a working database and green quick tests.
GOAL_SECONDS = 300.0
MIN_PYTHON = (3, 10)
MIN_FREE_BYTES = 1 << 30  # server binaries, venvs and a dev cluster fit in well under 1 GiB

Status = Literal["ok", "fail", "skip"]


@dataclasses.dataclass(frozen=True)
class StepResult:
    """What one step found: ok, fail (with the fix), or skip (with the reason)."""

    status: Status
    detail: str


@dataclasses.dataclass(frozen=True)
class Step:
    """A named step of the checklist and the function that carries it out."""

    name: str
    run: Callable[[], StepResult]


@dataclasses.dataclass(frozen=True)
class Outcome:
    """A step's result with the time it took."""

    name: str
    status: Status
    detail: str
    seconds: float


@dataclasses.dataclass(frozen=True)
class Checklist:
    """The whole run: every step's outcome, the total, and when it finished."""

    outcomes: tuple[Outcome, ...]
    total_seconds: float
    finished_at: str

    @property
    def passed(self) -> bool:
        """True when no step failed (skipped steps are optional ones)."""
        return all(o.status != "fail" for o in self.outcomes)

    @property
    def within_goal(self) -> bool:
        """True when the run took no longer than the five-minute goal."""
        return self.total_seconds <= GOAL_SECONDS

    def as_dict(self) -> dict[str, object]:
        """The record kept in ``.bot-db/onboarding.json`` and printed by ``--json``."""
        return {
            "finished_at": self.finished_at,
            "passed": self.passed,
            "total_seconds": round(self.total_seconds, 2),
            "goal_seconds": GOAL_SECONDS,
            "within_goal": self.within_goal,
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "steps": [
                {**dataclasses.asdict(o), "seconds": round(o.seconds, 2)} for o in self.outcomes
            ],
        }


def run_steps(
    steps: Sequence[Step],
    *,
    clock: Callable[[], float] = time.perf_counter,
    on_step: Callable[[Outcome], None] | None = None,
    measured: Sequence[Outcome] = (),
) -> Checklist:
    """Run every step in order, timing each; a step that raises is a failed step.

    Later steps still run after a failure, so the checklist shows everything
    that needs fixing in one go rather than one problem per attempt.
    ``measured`` are steps timed before this process started (nox creating the
    environment); they count towards the total like the others.
    """
    outcomes: list[Outcome] = list(measured)
    if on_step is not None:
        for outcome in outcomes:
            on_step(outcome)
    start = clock() - sum(outcome.seconds for outcome in outcomes)
    for step in steps:
        began = clock()
        try:
            result = step.run()
        except Exception as exc:  # a step's bug must not hide the other steps
            result = StepResult("fail", f"{type(exc).__name__}: {exc}")
        outcome = Outcome(step.name, result.status, result.detail, clock() - began)
        outcomes.append(outcome)
        if on_step is not None:
            on_step(outcome)
    return Checklist(
        tuple(outcomes),
        clock() - start,
        dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )


def record(checklist: Checklist, path: Path) -> None:
    """Append this run to the local record (a JSON object with a list of runs)."""
    runs: list[object] = []
    if path.is_file():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict) and isinstance(loaded.get("runs"), list):
                runs = loaded["runs"]
        except json.JSONDecodeError:
            runs = []  # a damaged record is replaced rather than blocking onboarding
    runs.append(checklist.as_dict())
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runs": runs}, indent=2) + "\n", encoding="utf-8")


# --- the steps -----------------------------------------------------------------------


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> StepResult:
    """Python 3.10 or newer."""
    shown = ".".join(map(str, version))
    if tuple(version[:2]) >= MIN_PYTHON:
        return StepResult("ok", f"Python {shown}")
    return StepResult("fail", f"Python {shown} is too old; install Python 3.10 or newer")


def check_disk(root: Path, minimum: int = MIN_FREE_BYTES) -> StepResult:
    """Enough free disk for the server, the venvs and the dev data."""
    free = shutil.disk_usage(root).free
    shown = f"{free / (1 << 30):.1f} GiB free"
    if free >= minimum:
        return StepResult("ok", shown)
    return StepResult(
        "fail", f"only {shown} on {root}; free at least {minimum / (1 << 30):.0f} GiB"
    )


def check_docker(timeout: float = 10.0) -> StepResult:
    """Docker is optional: the embedded backend needs none, the compose backend does."""
    if shutil.which("docker") is None:
        return StepResult("skip", "no docker command (optional: the embedded backend needs none)")
    version = engine_version(timeout=timeout)
    if version is None:
        return StepResult("skip", "the Docker engine is not running (optional)")
    return StepResult("ok", f"Docker engine {version}")


def bot_db_step(argv: Sequence[str], run: Callable[..., int] | None = None) -> StepResult:
    """Run ``bot-db ARGV`` in this process; the last step it finished (or failed) is the detail.

    The command writes through a console of ours, which keeps what it marked
    finished and what failed: nothing is read back out of printed text.
    """
    if run is None:
        from bot_persistence.cli import main

        run = main
    console = Console(io.StringIO(), err=io.StringIO())
    code = run(list(argv), console=console, stdin=io.StringIO())
    if code == 0:
        done = console.finished[-1] if console.finished else f"bot-db {' '.join(argv)}"
        return StepResult("ok", done)
    failed = console.failures[-1] if console.failures else f"bot-db {' '.join(argv)} exited {code}"
    return StepResult("fail", failed)


def smoke_step(
    commands: Sequence[str] | None = None, run: Callable[..., int] | None = None
) -> StepResult:
    """``bot-db smoke`` where this version has it; a skip with the reason where not."""
    if commands is None:
        from bot_persistence.cli import build_parser

        commands = list(CommandSpec.from_parser(build_parser()).subcommands)
    if "smoke" not in commands:
        return StepResult("skip", "this version of bot-db has no `smoke` command yet")
    return bot_db_step(["smoke"], run)


def unit_tests_step(root: Path, timeout: float = 240.0) -> StepResult:
    """The quick tests: ``pytest tests/unit`` (no database needed)."""
    done = run_command(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"],
        cwd=root,
        timeout=timeout,
    )
    if done.returncode == TIMED_OUT:  # pytest's own exit codes stop at 5
        return StepResult("fail", f"the unit tests took longer than {timeout:.0f}s")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else "no output"
    if done.returncode == 0:
        return StepResult("ok", summary)
    return StepResult("fail", f"{summary}; run `nox -s tests -- tests/unit` to see the failures")


def default_steps(root: Path) -> list[Step]:
    """The checklist: prerequisites, provision, probe, smoke flows, quick tests."""
    return [
        Step("Python 3.10 or newer", check_python),
        Step("disk space", lambda: check_disk(root)),
        Step("Docker (optional)", check_docker),
        Step("database up (bot-db up)", lambda: bot_db_step(["up"])),
        Step("health probe (bot-db check)", lambda: bot_db_step(["check"])),
        Step("smoke flows (bot-db smoke)", smoke_step),
        Step("unit tests", lambda: unit_tests_step(root)),
    ]


# --- output --------------------------------------------------------------------------


def _print_outcome(out: Console, outcome: Outcome) -> None:
    mark = {"ok": out.paint("✓", "green"), "fail": out.paint("✗", "red"), "skip": "-"}
    out.line(
        f"{mark[outcome.status]} {outcome.name.ljust(30)} {outcome.seconds:6.1f}s  "
        f"{out.paint(outcome.detail, 'dim')}"
    )


def _print_summary(out: Console, checklist: Checklist, record_path: Path) -> None:
    minutes = checklist.total_seconds / 60
    goal = "within" if checklist.within_goal else "over"
    out.line()
    verdict = "all set" if checklist.passed else "not yet: fix the ✗ steps and run it again"
    out.line(
        f"{'✓' if checklist.passed else '✗'} {verdict}; {checklist.total_seconds:.1f}s "
        f"({minutes:.1f} min, {goal} the {GOAL_SECONDS / 60:.0f}-minute goal)"
    )
    out.line(out.paint(f"recorded in {record_path}", "dim"))


def main(
    argv: Sequence[str] | None = None,
    *,
    root: Path | None = None,
    steps: Sequence[Step] | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Run the checklist, print it (or ``--json``), record it; exit 1 when a step failed."""
    parser = argparse.ArgumentParser(
        prog="onboarding", description="The onboarding checklist: run it once on a fresh clone."
    )
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    parser.add_argument(
        "--started-at",
        type=float,
        default=None,
        metavar="EPOCH",
        help="when set-up began (nox passes it), so the total includes installing",
    )
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        help="where to append the record (default: .bot-db/onboarding.json)",
    )
    args = parser.parse_args(argv)
    root = root or Path.cwd()
    out = Console(stdout)
    record_path = args.record or root / ".bot-db" / "onboarding.json"
    chosen = list(steps) if steps is not None else default_steps(root)
    measured: list[Outcome] = []
    if args.started_at is not None:
        setup = max(0.0, time.time() - args.started_at)
        detail = "nox creating the environment and installing the package"
        measured.append(Outcome("set-up (venv, install)", "ok", detail, setup))
    if not args.json:
        count = len(chosen) + len(measured)
        out.line(f"Onboarding checklist ({count} steps, goal {GOAL_SECONDS / 60:.0f} min)")
    on_step = None if args.json else (lambda outcome: _print_outcome(out, outcome))
    checklist = run_steps(chosen, on_step=on_step, measured=measured)
    record(checklist, record_path)
    committed = _commit_record(root, checklist) if checklist.passed else None
    if args.json:
        out.json(checklist.as_dict())
    else:
        _print_summary(out, checklist, record_path)
        if committed is not None:
            out.line(f"commit {committed} with your first change: it counts you as onboarded")
        elif checklist.passed:
            out.line("no record to commit: set `git config user.name` and `user.email` first")
    return 0 if checklist.passed else 1


def _commit_record(root: Path, checklist: Checklist) -> str | None:
    """Write ``.onboarding/<you>.json`` (git identity only); its path from ``root``, or None."""
    identity = git_identity(root)
    if identity is None:
        return None
    path = write_record(
        root, identity, total_seconds=checklist.total_seconds, finished_at=checklist.finished_at
    )
    return str(path.relative_to(root))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
