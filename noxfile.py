"""The project's front door: every workflow is a nox session (`nox -l` lists them).

Sessions call the package (`bot-db ...`, `pytest ...`); the logic lives in
`src/bot_persistence`, where it is typed and tested.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]
# A missing interpreter is an error in CI and a skip on a laptop.
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DEFAULT_PYTHON = "3.11"
DEV_INSTALL = ["-e", ".[embedded]"]


def _install(session: nox.Session, *groups: str) -> None:
    """The package (editable, so alembic/ and seeds/ are found) plus dependency groups."""
    requirements = [
        req for group in groups for req in nox.project.dependency_groups(PYPROJECT, group)
    ]
    session.install(*DEV_INSTALL, *requirements)


@nox.session(python=DEFAULT_PYTHON)
def db(session: nox.Session) -> None:
    """Bring up the dev database (migrated, seeded, probed); `-- ARGS` runs `bot-db ARGS`."""
    _install(session)
    session.run("bot-db", *(session.posargs or ["up"]))


@nox.session(python=DEFAULT_PYTHON)
def seed(session: nox.Session) -> None:
    """Apply seeds/ to the dev database again (an idempotent upsert)."""
    _install(session)
    session.run("bot-db", "seed", *session.posargs)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite with coverage: unit tests and real-PostgreSQL integration tests."""
    _install(session, "test")
    # `coverage run`, not `pytest --cov`: our pytest plugin is an entry point, so the
    # package is imported before pytest-cov could start measuring it.
    env = {"COVERAGE_FILE": str(Path(f".coverage.{session.python}").resolve())}
    session.run("coverage", "run", "-m", "pytest", *session.posargs, env=env)
    session.run("coverage", "combine", "--quiet", env=env)
    session.run("coverage", "report", env=env)


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (check and format --check) and mypy --strict."""
    _install(session, "lint", "test")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "src", "tests", "benchmarks", "noxfile.py", "alembic")


@nox.session(python=DEFAULT_PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: medians against a baseline measured in the same run."""
    _install(session, "test", "bench")
    session.run("python", "-m", "benchmarks", *session.posargs)
