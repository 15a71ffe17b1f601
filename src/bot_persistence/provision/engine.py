"""The Docker engine the container backends stand on: is it there, is the image there.

Both container backends (``docker`` through testcontainers, ``compose``
through the Compose command line) fail the same few ways before any
PostgreSQL runs: no Docker client, an engine that does not answer, an image
that is absent where no registry can be reached. Each becomes one typed error
here, with the same sentence whichever backend met it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot_persistence.errors import (
    DockerEngineDownError,
    DockerNotInstalledError,
    ImageUnavailableError,
)
from bot_persistence.settings import Settings

__all__ = [
    "OFFLINE_IMAGE",
    "TIMED_OUT",
    "container_image",
    "docker_cli",
    "engine_answers",
    "engine_down",
    "engine_version",
    "ensure_image_cli",
    "image_present",
    "image_unavailable",
    "require_engine_cli",
    "run_command",
    "run_docker",
]

_log = logging.getLogger(__name__)

#: The image ``compose/image/build.sh`` builds where no registry can be reached.
OFFLINE_IMAGE = "bot-persistence/postgres:15-offline"

_ENGINE_TIMEOUT = 10.0


def docker_cli() -> str:
    """The ``docker`` program, or a one-line reason why the container backends cannot run."""
    found = shutil.which("docker")
    if found is None:
        raise DockerNotInstalledError(
            "the container backends need Docker, and no `docker` program is on PATH: install "
            "Docker Engine (Debian: apt-get install docker.io) or Docker Desktop, or use "
            "--backend embedded"
        )
    return found


def engine_down(detail: str) -> DockerEngineDownError:
    """The error for an engine that does not answer, with the likeliest way out for ``detail``."""
    lowered = detail.lower()
    if "permission denied" in lowered:
        return DockerEngineDownError(
            "the Docker engine refused this user (permission denied on its socket): add "
            "yourself to the docker group and log in again, or use --backend embedded"
        )
    return DockerEngineDownError(
        "no Docker engine answers: start it (systemctl start docker, Docker Desktop, or "
        ".ci/docker-engine.sh on a CI machine) or use --backend embedded"
    )


def image_unavailable(image: str, *, may_pull: bool = True) -> ImageUnavailableError:
    """The error for an image that is absent and cannot (or may not) be pulled."""
    if image != OFFLINE_IMAGE and image_present(OFFLINE_IMAGE):
        # Built already (compose/image/build.sh): point at it, not at building it again.
        offline = (
            f"{OFFLINE_IMAGE} is on this machine already: set POSTGRES_IMAGE={OFFLINE_IMAGE} "
            "in .env"
        )
    else:
        offline = (
            f"run `nox -s image` to build {OFFLINE_IMAGE} offline and set "
            f"POSTGRES_IMAGE={OFFLINE_IMAGE} in .env"
        )
    if not may_pull:
        return ImageUnavailableError(
            f"image {image} is not on this machine and BOT_DB_IMAGE_PULL=never forbids "
            f"pulling it: {offline}, or `docker pull {image}` yourself"
        )
    return ImageUnavailableError(
        f"image {image} is not on this machine and no registry could be reached to pull it: "
        f"{offline}, or connect to a registry"
    )


#: The exit code of a command that did not finish in time (as coreutils' ``timeout`` says it).
TIMED_OUT = 124


def run_command(
    command: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a container tool (``docker``, Compose), output captured, never reading stdin.

    A command that hangs past ``timeout`` is killed and reads as exit code
    :data:`TIMED_OUT`, its stderr saying so: a caller handles it as any failure,
    or names it (``compose up`` does).
    """
    try:
        return subprocess.run(
            command,
            env=env,
            cwd=cwd,
            capture_output=True,
            encoding="utf-8",
            errors="backslashreplace",  # a path or message need not be UTF-8
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(
            command, TIMED_OUT, "", f"timed out after {timeout:.0f}s"
        )


def run_docker(*args: str, timeout: float = _ENGINE_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS`` (see :func:`run_command`)."""
    return run_command([docker_cli(), *args], timeout=timeout)


def require_engine_cli(*, timeout: float = _ENGINE_TIMEOUT) -> str:
    """The engine's version; raises unless the Docker client is installed and its engine answers."""
    result = run_docker("version", "--format", "{{.Server.Version}}", timeout=timeout)
    if result.returncode != 0 or not result.stdout.strip():
        raise engine_down(result.stderr)
    return result.stdout.strip()


def engine_answers(*, timeout: float = 3.0) -> bool:
    """True when a Docker client is installed and its engine answers: for choosing, not failing."""
    return engine_version(timeout=timeout) is not None


def engine_version(*, timeout: float = 3.0) -> str | None:
    """The engine's version when a Docker client is installed and its engine answers, else None."""
    try:
        return require_engine_cli(timeout=timeout)
    except (DockerNotInstalledError, DockerEngineDownError):
        return None


def image_present(image: str) -> bool:
    """True when ``image`` is on this machine already (nothing is pulled)."""
    return run_docker("image", "inspect", "--format", "{{.Id}}", image).returncode == 0


def container_image(configured: str | None) -> str:
    """The image the container backends should run on this machine.

    ``configured`` (``POSTGRES_IMAGE``) when given; else the official image
    (Settings' default), unless it is absent and the offline image is here:
    then no registry was reachable to pull it, and the offline image is the
    way to run at all. The nox sessions, the integration tests and the
    benchmarks all ask this.
    """
    if configured:
        return configured
    official = str(Settings.model_fields["postgres_image"].default)
    if not image_present(official) and image_present(OFFLINE_IMAGE):
        return OFFLINE_IMAGE
    return official


def ensure_image_cli(image: str, *, may_pull: bool = True, pull_timeout: float = 600.0) -> bool:
    """Make sure ``image`` is on this machine; True when it had to be pulled.

    An absent image is pulled, as ``docker run`` would, unless ``may_pull`` is
    False (``BOT_DB_IMAGE_PULL=never``): then nothing leaves the machine. Where
    no registry can be reached the pull fails within a second or two; either
    way the error names the offline image as the way out.
    """
    if image_present(image):
        return False
    if not may_pull:
        raise image_unavailable(image, may_pull=False)
    _log.info("image %s is not here; pulling it", image)
    pulled = run_docker("pull", "--quiet", image, timeout=pull_timeout)
    if pulled.returncode != 0:
        _log.info("pulling %s failed: %s", image, pulled.stderr.strip())
        raise image_unavailable(image)
    return True
