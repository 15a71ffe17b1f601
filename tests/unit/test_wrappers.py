"""Makefile and dev-env.sh are thin: each verb is one call of bot-db or nox.

A fake ``bot-db`` and ``nox`` first on PATH record what the wrappers call, so
these tests need no database and prove the wrappers add no logic of their own
beyond the health check after ``up``.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHELLS = [shell for shell in ("dash", "bash") if shutil.which(shell)]
FAKE = """#!/bin/sh
echo "$(basename "$0") $*" >> "$FAKE_LOG"
if [ "$1" = check ]; then exit "${FAKE_CHECK_RC:-0}"; fi
exit 0
"""


@pytest.fixture
def fake_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("bot-db", "nox"):
        tool = bin_dir / name
        tool.write_text(FAKE, encoding="utf-8")
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_LOG": str(tmp_path / "calls.log"),
        "MAKEFLAGS": "",
    }


def calls(env: dict[str, str]) -> list[str]:
    log = Path(env["FAKE_LOG"])
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize("argv", [[], ["frobnicate"]], ids=["no-verb", "unknown-verb"])
def test_dev_env_says_its_usage_on_bad_input_and_exits_2(
    shell: str, argv: list[str], fake_env: dict[str, str]
) -> None:
    done = run([shell, "dev-env.sh", *argv], fake_env)
    assert done.returncode == 2
    assert "usage: ./dev-env.sh VERB" in done.stderr
    assert calls(fake_env) == []


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["db:reset", "--yes"], ["bot-db reset --yes"]),
        (["db-reset"], ["bot-db reset"]),
        (["db:shell", "--", "-c", "select 1"], ["bot-db shell -- -c select 1"]),
        (["db:migrate"], ["bot-db migrate"]),
        (["db:seed"], ["bot-db seed"]),
        (["db:up"], ["bot-db up"]),
        (["down"], ["bot-db down"]),
        (["test", "-k", "seeds"], ["nox -s tests -- -k seeds"]),
        (["up"], ["bot-db up", "bot-db check"]),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_dev_env_verbs_are_one_call_each(
    shell: str, argv: list[str], expected: list[str], fake_env: dict[str, str]
) -> None:
    done = run([shell, "dev-env.sh", *argv], fake_env)
    assert done.returncode == 0, done.stderr
    assert calls(fake_env) == expected


@pytest.mark.parametrize("shell", SHELLS)
def test_dev_env_up_fails_loudly_when_the_health_check_fails(
    shell: str, fake_env: dict[str, str]
) -> None:
    done = run([shell, "dev-env.sh", "up"], {**fake_env, "FAKE_CHECK_RC": "1"})
    assert done.returncode == 1
    assert "did not pass the health check" in done.stderr


needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no make on this machine")


@needs_make
def test_make_up_runs_the_health_check_and_fails_loudly(fake_env: dict[str, str]) -> None:
    ok = run(["make", "-s", "up"], fake_env)
    assert ok.returncode == 0, ok.stderr
    assert calls(fake_env) == ["bot-db up", "bot-db check"]
    failed = run(["make", "-s", "up"], {**fake_env, "FAKE_CHECK_RC": "1"})
    assert failed.returncode != 0
    assert "did not pass the health check" in failed.stderr


@needs_make
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["db-reset", "YES=1"], "bot-db reset --yes"),
        (["db-reset"], "bot-db reset"),
        (["db-shell"], "bot-db shell"),
        (["db-seed"], "bot-db seed"),
        (["db-migrate"], "bot-db migrate"),
        (["db-up"], "bot-db up"),
        (["down"], "bot-db down"),
        (["test", "ARGS=-x"], "nox -s tests -- -x"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_make_targets_are_one_call_each(
    argv: list[str], expected: str, fake_env: dict[str, str]
) -> None:
    done = run(["make", "-s", *argv], fake_env)
    assert done.returncode == 0, done.stderr
    assert calls(fake_env) == [expected]


@needs_make
def test_make_help_is_the_default_and_lists_every_target(fake_env: dict[str, str]) -> None:
    done = run(["make", "-s"], fake_env)
    assert done.returncode == 0
    for target in ("up", "down", "db-up", "db-shell", "db-reset", "db-seed", "db-migrate", "test"):
        assert f"  {target} " in done.stdout
    assert calls(fake_env) == []
