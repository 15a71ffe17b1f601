"""The project's front door: every workflow is a nox session (`nox -l` lists them).

Sessions call the package (`bot-db ...`, `pytest ...`); the logic lives in
`src/bot_persistence`, where it is typed and tested. What a session needs
besides (finding interpreters, installing from requirements-lock.txt, the linters' tools)
lives in `.ci/toolchain`, so this file reads as the list of sessions.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent / ".ci"))

from toolchain import arguments, interpreters, tools
from toolchain.installs import install, lock_command

nox.needs_version = ">=2025.10.14"  # download_python
# uv where it is installed (`python3 -m pip install nox uv`), else venv + pip.
nox.options.default_venv_backend = "uv|venv"
# Interpreters are found where people keep them (toolchain.interpreters);
# nothing is downloaded behind a contributor's back.
nox.options.download_python = "never"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests", "migrate-roundtrip"]
# A missing interpreter is an error in CI and a skip on a laptop.
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))

PYPROJECT = nox.project.load_toml("pyproject.toml")
#: The supported Pythons, said once: pyproject.toml's classifiers.
PYTHONS = nox.project.python_versions(PYPROJECT)
#: Where one Python will do (zizmor, in lint, needs 3.11 or later).
DEFAULT_PYTHON = "3.11"
#: Built by compose/image/build.sh where no image registry can be reached (the
#: `image` session's hint; which image a session runs is the package's rule).
OFFLINE_IMAGE = "bot-persistence/postgres:15-offline"

interpreters.find_and_report(PYTHONS)


@nox.session(python=DEFAULT_PYTHON)
def db(session: nox.Session) -> None:
    """Bring up the dev database (migrated, seeded, probed); `-- ARGS` runs `bot-db ARGS`."""
    install(session, PYPROJECT)
    tools.run_bot_db(session, *(session.posargs or ["up"]))


@nox.session(python=DEFAULT_PYTHON)
def seed(session: nox.Session) -> None:
    """Apply seeds/ to the dev database again (an idempotent upsert)."""
    install(session, PYPROJECT)
    tools.run_bot_db(session, "seed", *session.posargs)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite with coverage: unit tests and real-PostgreSQL integration tests."""
    install(session, PYPROJECT, "test")
    # `coverage run`, not `pytest --cov`: our pytest plugin is an entry point, so the
    # package is imported before pytest-cov could start measuring it.
    env = {"COVERAGE_FILE": str(Path(f".coverage.{session.python}").resolve())}
    if os.environ.get("CI"):
        env["HYPOTHESIS_PROFILE"] = "ci"  # more generated examples than on a laptop
    session.run(
        "coverage",
        "run",
        "-m",
        "pytest",
        # Container tests run once, in `integration`, and the docs' transcripts in
        # `docs-check`, not once per Python.
        "-m",
        "not docker and not docs",
        # One worker per core; the plugin shares one server between them, and
        # coverage measures each worker (parallel mode, combined below).
        # `-- -n 0` runs serially.
        "-n",
        "auto",
        *session.posargs,
        env=env,
    )
    session.run("coverage", "combine", "--quiet", env=env)
    session.run("coverage", "report", env=env)


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, mypy --strict, the import layers, the lock, actionlint and zizmor."""
    install(session, PYPROJECT, "lint", "test")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run(
        "mypy", "src", "tests", "benchmarks", "noxfile.py", ".ci/toolchain", "alembic",
        "examples", "docs",
    )  # fmt: skip
    # The package's one-way import graph: [tool.importlinter] in pyproject.toml.
    session.run("lint-imports")
    # That the lock covers every requirement of pyproject.toml is a unit test
    # (tests/unit/test_noxfile.py): it needs no index, so lint works offline.
    tools.actionlint(session)
    tools.zizmor(session)


@nox.session(python=False, default=False)
def lock(session: nox.Session) -> None:
    """Re-resolve requirements-lock.txt after a dependency change (pins that still fit stay)."""
    if not shutil.which("uv"):
        session.error("nox -s lock needs uv: python3 -m pip install uv")
    session.run(*lock_command(), external=True)


@nox.session(name="migrate-roundtrip", python=DEFAULT_PYTHON)
def migrate_roundtrip(session: nox.Session) -> None:
    """Prove every migration up, down and up on throw-away PostgreSQL 15 and 18 (`-- --pg 16`)."""
    install(session, PYPROJECT, "migrations")
    env = tools.container_env(session)
    for argv in arguments.roundtrip_runs(session.posargs):
        session.run("bot-db", "roundtrip", *argv, env=env)


@nox.session(name="migrate-rehearsal", python=DEFAULT_PYTHON)
def migrate_rehearsal(session: nox.Session) -> None:
    """Rehearse the revisions this branch adds over main under the bot's load, on PG 15 and 18."""
    install(session, PYPROJECT)
    env = tools.container_env(session)
    for argv in arguments.rehearsal_runs(session.posargs):
        session.run("bot-db", "rehearse", *argv, env=env)


@nox.session(python=DEFAULT_PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: medians against a baseline measured in the same run."""
    install(session, PYPROJECT, "test", "bench")
    session.run("python", "-m", "benchmarks", *session.posargs, env=tools.container_env(session))


@nox.session(name="docs-check", python=DEFAULT_PYTHON)
def docs_check(session: nox.Session) -> None:
    """The docs against the code (commands, links, generated blocks), then their blocks run."""
    install(session, PYPROJECT, "test")
    session.run("python", "-m", "bot_persistence.devtools.docs_check", *session.posargs)
    # Every runnable block of every page, and the docs' promises, each in a
    # temporary copy of the checkout (tests marked `docs`).
    session.run("pytest", "-m", "docs", "-p", "no:cacheprovider", "-n", "auto", "tests")


@nox.session(python=DEFAULT_PYTHON)
def onboarding(session: nox.Session) -> None:
    """The onboarding checklist: prerequisites, database up, probe, smoke, quick tests."""
    started = time.time()  # installing counts towards the five-minute goal too
    install(session, PYPROJECT, "test")
    session.run(
        "python", "-m", "bot_persistence.devtools.onboarding", "--started-at", f"{started:.3f}",
        *session.posargs,
    )  # fmt: skip


@nox.session(python=DEFAULT_PYTHON)
def adoption(session: nox.Session) -> None:
    """Contributors active lately (`-- --days 14`) with an onboarding record, against 80 %."""
    install(session, PYPROJECT)
    session.run("python", "-m", "bot_persistence.devtools.adoption", *session.posargs)


@nox.session(venv_backend="none")
def image(session: nox.Session) -> None:
    """Build the offline PostgreSQL image (skipped when present); prints POSTGRES_IMAGE=TAG."""
    session.run("bash", "compose/image/build.sh", *session.posargs, external=True)
    session.log(f"put POSTGRES_IMAGE={OFFLINE_IMAGE} in .env where no registry can be reached")


@nox.session(python=DEFAULT_PYTHON)
def integration(session: nox.Session) -> None:
    """Integration tests on PostgreSQL 18 in a container (`-- --db-pg 15`), compose v1 and v2."""
    install(session, PYPROJECT, "test")
    tools.compose_v2(session)
    env = tools.container_env(session)
    if "POSTGRES_IMAGE" in env:
        session.log(f"POSTGRES_IMAGE={env['POSTGRES_IMAGE']}")
    session.run(
        "pytest", "-m", "integration", "tests/integration",
        *arguments.integration_args(session.posargs), env=env,
    )  # fmt: skip
    _faults(session)


#: The property tests: every public call and command over the whole domain of its inputs.
PROPERTY_TESTS = [
    "tests/unit/test_cli_properties.py",
    "tests/unit/test_name_properties.py",
    "tests/integration/data_layer/test_properties.py",
]


@nox.session(python=DEFAULT_PYTHON)
def properties(session: nox.Session) -> None:
    """Property tests at depth: thousands of generated examples each (CI runs this once)."""
    install(session, PYPROJECT, "test")
    session.run(
        "pytest", *PROPERTY_TESTS, *session.posargs,
        env={"HYPOTHESIS_PROFILE": "deep"},
    )  # fmt: skip


@nox.session(python=DEFAULT_PYTHON)
def faults(session: nox.Session) -> None:
    """Fault injection: kill -9, SIGINT/SIGTERM, races, a full tmpfs (root), a garbage pid file."""
    install(session, PYPROJECT, "test")
    _faults(session)


def _faults(session: nox.Session) -> None:
    """The fault suite; `integration` runs it too, which is how CI runs it."""
    # BOT_DB_FAULTS_SEED replays the random moments of a failed run.
    args = arguments.without_marker_expression(session.posargs)
    session.run("pytest", "-m", "faults", "tests/faults", "-rA", *args)
