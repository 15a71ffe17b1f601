"""The onboarding checklist: timing, ✓/✗ output, skips, the local record, --json."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot_persistence.cli.output import Console
from bot_persistence.devtools import onboarding
from bot_persistence.devtools.onboarding import Step, StepResult


def fake_clock(ticks: list[float]) -> Iterator[float]:
    yield from ticks


def steps_with(*results: StepResult) -> list[Step]:
    return [Step(f"step {i}", lambda r=r: r) for i, r in enumerate(results)]  # type: ignore[misc]


def test_steps_are_timed_and_the_total_is_compared_with_the_goal() -> None:
    ticks = fake_clock([0.0, 0.0, 2.0, 2.0, 301.0, 301.0])
    checklist = onboarding.run_steps(
        steps_with(StepResult("ok", "a"), StepResult("ok", "b")), clock=lambda: next(ticks)
    )
    assert [o.seconds for o in checklist.outcomes] == [2.0, 299.0]
    assert checklist.total_seconds == 301.0
    assert (checklist.passed, checklist.within_goal) == (True, False)


def test_a_skipped_step_does_not_fail_the_checklist_but_a_failed_one_does() -> None:
    skipped = onboarding.run_steps(steps_with(StepResult("ok", ""), StepResult("skip", "why")))
    failed = onboarding.run_steps(steps_with(StepResult("fail", "fix it"), StepResult("ok", "")))
    assert skipped.passed
    assert not failed.passed
    assert [o.status for o in failed.outcomes] == ["fail", "ok"]  # later steps still ran


def test_a_step_that_raises_is_a_failed_step_and_the_rest_still_run() -> None:
    def broken() -> StepResult:
        raise RuntimeError("boom")

    checklist = onboarding.run_steps([Step("broken", broken), *steps_with(StepResult("ok", ""))])
    assert [(o.status, o.detail) for o in checklist.outcomes] == [
        ("fail", "RuntimeError: boom"),
        ("ok", ""),
    ]


def test_runs_are_appended_to_the_record(tmp_path: Path) -> None:
    path = tmp_path / ".bot-db" / "onboarding.json"
    for _ in range(2):
        onboarding.record(onboarding.run_steps(steps_with(StepResult("ok", "x"))), path)
    runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
    assert len(runs) == 2
    assert runs[0]["steps"][0] == {"name": "step 0", "status": "ok", "detail": "x", "seconds": 0.0}
    assert set(runs[0]) >= {"finished_at", "passed", "total_seconds", "goal_seconds", "python"}


def test_a_damaged_record_is_replaced_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "onboarding.json"
    path.write_text("{not json", encoding="utf-8")
    onboarding.record(onboarding.run_steps(steps_with(StepResult("ok", ""))), path)
    assert len(json.loads(path.read_text(encoding="utf-8"))["runs"]) == 1


def test_main_prints_a_checklist_and_exits_1_on_a_failed_step(tmp_path: Path) -> None:
    out = io.StringIO()
    code = onboarding.main(
        [],
        root=tmp_path,
        steps=steps_with(StepResult("ok", "fine"), StepResult("skip", "no docker")),
        stdout=out,
    )
    text = out.getvalue()
    assert code == 0
    assert "✓ step 0" in text and "- step 1" in text and "no docker" in text
    assert "all set" in text and "5-minute goal" in text
    assert (tmp_path / ".bot-db" / "onboarding.json").is_file()

    failing = io.StringIO()
    steps = steps_with(StepResult("fail", "do this"))
    assert onboarding.main([], root=tmp_path, steps=steps, stdout=failing) == 1
    assert "✗ step 0" in failing.getvalue() and "not yet" in failing.getvalue()


def test_json_output_is_the_record(tmp_path: Path) -> None:
    out = io.StringIO()
    record = tmp_path / "elsewhere.json"
    steps = steps_with(StepResult("ok", "fine"))
    code = onboarding.main(
        ["--json", "--record", str(record)], root=tmp_path, steps=steps, stdout=out
    )
    printed = json.loads(out.getvalue())
    assert code == 0
    assert printed == json.loads(record.read_text(encoding="utf-8"))["runs"][0]


@pytest.mark.parametrize(
    ("version", "status"),
    [((3, 9, 18), "fail"), ((3, 10, 0), "ok"), ((3, 13, 1), "ok")],
    ids=["3.9", "3.10", "3.13"],
)
def test_python_version_check(version: tuple[int, int, int], status: str) -> None:
    assert onboarding.check_python(version).status == status


def test_disk_check_fails_below_the_minimum(tmp_path: Path) -> None:
    assert onboarding.check_disk(tmp_path, minimum=1).status == "ok"
    result = onboarding.check_disk(tmp_path, minimum=1 << 60)
    assert result.status == "fail" and "free at least" in result.detail


def test_docker_is_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot_persistence.devtools.onboarding.shutil.which", lambda _: None)
    result = onboarding.check_docker()
    assert result.status == "skip" and "optional" in result.detail


def test_smoke_is_skipped_with_a_reason_where_bot_db_has_no_smoke_command() -> None:
    result = onboarding.smoke_step(commands=["up", "check"])
    assert result.status == "skip" and "no `smoke` command" in result.detail


def test_smoke_runs_bot_db_smoke_where_it_exists() -> None:
    calls: list[list[str]] = []

    def fake_main(argv: list[str], **_: object) -> int:
        calls.append(argv)
        return 0

    assert onboarding.smoke_step(commands=["smoke"], run=fake_main).status == "ok"
    assert calls == [["smoke"]]


def test_a_bot_db_step_reports_the_error_line_without_its_prefix() -> None:
    def failing(argv: list[str], *, console: Console, **_: object) -> int:
        console.error("no PostgreSQL server answers at 127.0.0.1:5433")
        return 1

    result = onboarding.bot_db_step(["check"], run=failing)
    assert result == StepResult("fail", "no PostgreSQL server answers at 127.0.0.1:5433")


def test_default_steps_cover_the_checklist(tmp_path: Path) -> None:
    names = [step.name for step in onboarding.default_steps(tmp_path)]
    assert names == [
        "Python 3.10 or newer",
        "disk space",
        "Docker (optional)",
        "database up (bot-db up)",
        "health probe (bot-db check)",
        "smoke flows (bot-db smoke)",
        "unit tests",
    ]


def test_time_spent_before_the_checklist_counts_towards_the_total(tmp_path: Path) -> None:
    out = io.StringIO()
    started = time.time() - 42.0
    steps = steps_with(StepResult("ok", "fine"))
    code = onboarding.main(
        ["--json", "--started-at", str(started)], root=tmp_path, steps=steps, stdout=out
    )
    record = json.loads(out.getvalue())
    assert code == 0
    assert record["steps"][0]["name"] == "set-up (venv, install)"
    assert 42.0 <= record["steps"][0]["seconds"] < 60.0
    assert record["total_seconds"] >= 42.0


def test_a_successful_bot_db_step_reports_its_last_finished_step() -> None:
    def up(argv: list[str], *, console: Console, **_: object) -> int:
        console.ok("server    started")
        console.ok("check     18.6, revision abc")
        console.line()
        console.line("Put it in .env")
        return 0

    assert onboarding.bot_db_step(["up"], run=up) == StepResult(
        "ok", "check     18.6, revision abc"
    )
