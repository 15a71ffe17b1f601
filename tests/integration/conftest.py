"""Every test in this folder talks to a real PostgreSQL server.

Tests marked ``docker`` need a Docker engine as well. Without one they skip,
saying why, on a laptop; with ``CI`` or ``BOT_DB_REQUIRE_DOCKER=1`` set a
missing engine is a failure, so CI cannot pass by skipping them. At the end
the run says which backends were exercised.
"""

from __future__ import annotations

import os

import pytest

from bot_persistence.errors import BotPersistenceError
from bot_persistence.provision.docker import docker_client
from bot_persistence.provision.engine import container_image
from bot_persistence.testing.hooks import RUN_KEY

#: Which backend a test module exercises; the rest of this folder uses embedded.
BACKEND_OF_MODULE = {
    "test_docker_backend.py": "docker",
    "test_roundtrip_container.py": "docker",
    "test_compose_backend.py": "compose",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.integration)


def docker_required() -> bool:
    """True where a missing engine must fail the run rather than skip (CI)."""
    return bool(os.environ.get("CI")) or os.environ.get("BOT_DB_REQUIRE_DOCKER") == "1"


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Skip (or, in CI, fail) when no Docker engine answers."""
    try:
        docker_client().close()
    except BotPersistenceError as exc:
        reason = f"no Docker engine for the docker tests: {exc}"
        if docker_required():
            pytest.fail(reason + " (required: CI or BOT_DB_REQUIRE_DOCKER is set)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_image(docker_engine: None) -> str:
    """POSTGRES_IMAGE when given; else the official image, or the offline one where only it is."""
    return container_image(os.environ.get("POSTGRES_IMAGE"))


@pytest.fixture(autouse=True)
def _docker_marked_tests_need_the_engine(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("docker") is not None:
        request.getfixturevalue("docker_engine")


def _run_server(config: pytest.Config) -> str:
    """The backend of the run's own server (``--db-pg`` may make it a container)."""
    run = config.stash.get(RUN_KEY, None)
    try:
        return run.choice.backend if run is not None else "embedded"
    except pytest.UsageError:
        return "embedded"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per backend: how many of its tests passed, failed or skipped (and why)."""
    counts: dict[str, dict[str, int]] = {}
    reasons: dict[str, str] = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "").replace("\\", "/")
            if "tests/integration/" not in nodeid or report.when not in {"call", "setup"}:
                continue
            if report.when == "setup" and outcome == "passed":
                continue
            module = nodeid.split("::")[0].rsplit("/", 1)[-1]
            backend = BACKEND_OF_MODULE.get(module, _run_server(terminalreporter.config))
            counts.setdefault(backend, {}).setdefault(outcome, 0)
            counts[backend][outcome] += 1
            if outcome == "skipped" and isinstance(report.longrepr, tuple):
                reasons.setdefault(backend, str(report.longrepr[2]).removeprefix("Skipped: "))
    if not counts:
        return
    terminalreporter.section("integration backends")
    for backend in ("embedded", "docker", "external", "compose"):
        if backend not in counts:
            continue
        summary = ", ".join(f"{n} {outcome}" for outcome, n in counts[backend].items())
        ran = "ran" if counts[backend].get("passed") or counts[backend].get("failed") else "skipped"
        line = f"{backend:<9} {ran}: {summary}"
        if backend in reasons and ran == "skipped":
            line += f" ({reasons[backend]})"
        terminalreporter.write_line(line)
