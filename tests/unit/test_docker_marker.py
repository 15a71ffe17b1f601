"""Tests marked ``docker`` skip without an engine on a laptop, and fail without one in CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ONE_DOCKER_TEST = (
    "tests/integration/test_docker_backend.py"
    "::test_throwaway_server_is_removed_when_the_body_raises"
)


def run_without_engine(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run one docker test with DOCKER_HOST on a socket nobody listens on."""
    base = {k: v for k, v in os.environ.items() if k not in {"CI", "BOT_DB_REQUIRE_DOCKER"}}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", ONE_DOCKER_TEST],
        cwd=ROOT,
        env={**base, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock", **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_without_an_engine_docker_tests_skip_and_say_why(tmp_path: Path) -> None:
    result = run_without_engine(tmp_path)
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
    assert "no Docker engine" in result.stdout
    assert "docker    skipped" in result.stdout


@pytest.mark.parametrize(
    "required",
    [{"CI": "true"}, {"BOT_DB_REQUIRE_DOCKER": "1"}],
    ids=["CI", "BOT_DB_REQUIRE_DOCKER"],
)
def test_without_an_engine_docker_tests_fail_where_docker_is_required(
    tmp_path: Path, required: dict[str, str]
) -> None:
    result = run_without_engine(tmp_path, **required)
    assert result.returncode == 1, result.stdout
    assert "1 error" in result.stdout
    assert "required: CI or BOT_DB_REQUIRE_DOCKER is set" in result.stdout
