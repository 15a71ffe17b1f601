"""The project's .psqlrc and the onboarding steps, against a real server."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from bot_persistence import cli
from bot_persistence.devtools import onboarding
from bot_persistence.settings import Settings


def test_shell_uses_the_project_psqlrc(
    settings: Settings,
    capfd: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the per-database history lands here
    # A session typed at the prompt (psql reads its input, not -c, which runs
    # without .psqlrc): the query comes on psql's standard input.
    script = tmp_path / "typed.sql"
    script.write_text("SELECT NULL AS nothing;\n", encoding="utf-8")
    saved = os.dup(0)
    try:
        with script.open("rb") as typed:
            os.dup2(typed.fileno(), 0)
            code = cli.main(
                ["shell"], settings=settings, stdout=io.StringIO(), stderr=io.StringIO()
            )
    finally:
        os.dup2(saved, 0)
        os.close(saved)
    out = capfd.readouterr().out
    assert code == 0
    assert f"bot-persistence shell on {settings.database}" in out
    assert "∅" in out  # NULL is visible
    assert "Time:" in out  # \timing is on


def test_onboarding_provisions_and_probes_through_bot_db(settings: Settings) -> None:
    def with_settings(argv: list[str], **streams: object) -> int:
        return cli.main(argv, settings=settings, **streams)  # type: ignore[arg-type]

    steps = [
        onboarding.Step("up", lambda: onboarding.bot_db_step(["up"], run=with_settings)),
        onboarding.Step("check", lambda: onboarding.bot_db_step(["check"], run=with_settings)),
    ]
    checklist = onboarding.run_steps(steps)
    assert [o.status for o in checklist.outcomes] == ["ok", "ok"], checklist.outcomes
    assert "at head" in checklist.outcomes[1].detail


def test_onboarding_check_fails_with_the_fix_when_the_database_is_missing(
    settings: Settings,
) -> None:
    missing = Settings.from_values(**{**settings.model_dump(), "postgres_db": "no_such_db"})
    result = onboarding.bot_db_step(
        ["check"], run=lambda argv, **streams: cli.main(argv, settings=missing, **streams)
    )
    assert result.status == "fail"
    assert "bot-db up" in result.detail
