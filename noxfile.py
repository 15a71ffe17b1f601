"""The project's front door: every workflow is a nox session (`nox -l` lists them).

Sessions call the package (`bot-db ...`, `pytest ...`); the logic lives in
`src/bot_persistence`, where it is typed and tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess

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
DEV_INSTALL = ["-e", ".[embedded,docker]"]
#: Settings.postgres_image's default: what a laptop pulls.
OFFICIAL_IMAGE = "postgres:18"
#: Built by compose/image/build.sh where no image registry can be reached.
OFFLINE_IMAGE = "bot-persistence/postgres:15-offline"
#: testcontainers on a local engine with published ports on loopback, and no
#: reaper container (cleanup is the project's own: see provision/docker.py).
TESTCONTAINERS_ENV = {
    "TC_HOST": "127.0.0.1",
    "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
    "TESTCONTAINERS_RYUK_DISABLED": "true",
}


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
    session.run(
        "pytest",
        "--cov",
        "--cov-report=term-missing:skip-covered",
        # Container tests run once, in `integration`, not once per Python.
        "-m",
        "not docker",
        *session.posargs,
        env={"COVERAGE_FILE": f".coverage.{session.python}"},
    )


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
    _install(session, "test")
    session.run("python", "-m", "benchmarks", *session.posargs, env=_container_env())


def _image_here(image: str) -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    found = subprocess.run([docker, "image", "inspect", image], capture_output=True, check=False)
    return found.returncode == 0


def _container_env() -> dict[str, str]:
    """Environment for the container backends on this machine.

    POSTGRES_IMAGE as given; else, where the official image is absent and the
    offline one is present (no registry here), the offline one. Elsewhere the
    official image is pulled as usual.
    """
    env = dict(TESTCONTAINERS_ENV)
    if (
        not os.environ.get("POSTGRES_IMAGE")
        and not _image_here(OFFICIAL_IMAGE)
        and _image_here(OFFLINE_IMAGE)
    ):
        env["POSTGRES_IMAGE"] = OFFLINE_IMAGE
    return env


@nox.session(venv_backend="none")
def image(session: nox.Session) -> None:
    """Build the offline PostgreSQL image (skipped when present); prints POSTGRES_IMAGE=TAG."""
    session.run("bash", "compose/image/build.sh", *session.posargs, external=True)
    session.log(f"put POSTGRES_IMAGE={OFFLINE_IMAGE} in .env where no registry can be reached")


@nox.session(python=DEFAULT_PYTHON)
def integration(session: nox.Session) -> None:
    """Integration tests on every backend available here (embedded, docker, compose)."""
    _install(session, "test")
    env = _container_env()
    if "POSTGRES_IMAGE" in env:
        session.log(f"POSTGRES_IMAGE={env['POSTGRES_IMAGE']} (the official image is not here)")
    session.run("pytest", "-m", "integration", "tests/integration", *session.posargs, env=env)
