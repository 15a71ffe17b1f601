"""The long-lived dev server of ``compose/docker-compose.yml`` (``--backend compose``).

``up`` runs the ``postgres-db`` service, waits for its healthcheck with
testcontainers' ``HealthcheckWaitStrategy``, and makes sure the database
exists; :mod:`bot_persistence.devdb` then migrates, seeds and probes as for
every backend. ``down`` keeps the named volume; ``down --purge`` removes it.

Compose v2 (``docker compose``) is preferred and v1 (``docker-compose``, what
Debian ships) is the fallback; the files use only what both understand. Every
value the file reads is passed from :class:`Settings` through the
environment of the Compose process, so ``.env`` is read once, by us.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot_persistence.errors import (
    BackendUnavailableError,
    DockerNotInstalledError,
    PortInUseError,
    ProvisionError,
    ServerStartError,
)
from bot_persistence.project import checkout_root
from bot_persistence.provision.base import (
    Backend,
    BackendStatus,
    ServerReady,
    port_accepts,
)
from bot_persistence.provision.engine import (
    TIMED_OUT,
    engine_down,
    ensure_image_cli,
    require_engine_cli,
    run_command,
    run_docker,
)
from bot_persistence.settings import Settings

if TYPE_CHECKING:
    from docker.models.containers import Container

__all__ = [
    "SERVICE",
    "ComposeBackend",
    "compose_command",
    "compose_file",
    "default_project_name",
]

#: The database service, in both compose files.
SERVICE = "postgres-db"
#: The named volume holding the data (Compose prefixes it with the project name).
VOLUME = "postgres-data"


@functools.cache
def compose_command() -> tuple[str, ...]:
    """``docker compose`` (v2) when the plugin answers, else ``docker-compose`` (v1)."""
    docker = shutil.which("docker")
    if docker is not None:
        v2 = run_command([docker, "compose", "version"], timeout=10)
        if v2.returncode == 0:
            return (docker, "compose")
    v1 = shutil.which("docker-compose")
    if v1 is not None:
        return (v1,)
    raise DockerNotInstalledError(
        "the compose backend needs Docker Compose, and neither `docker compose` nor "
        "`docker-compose` is installed: install the Compose plugin (or Debian's "
        "docker-compose), or use --backend docker or --backend embedded"
    )


def default_project_name(root: Path) -> str:
    """The project name Compose derives from a folder: ``root``'s name, normalised.

    As Compose does (compose-go's ``NormalizeProjectName``): lower-cased,
    only ``a-z``, ``0-9``, ``_`` and ``-`` kept, leading ``_`` and ``-``
    dropped. Per checkout, so two clones on one engine keep separate volumes;
    ``bot-persistence`` when nothing is left.
    """
    kept = re.sub(r"[^a-z0-9_-]", "", root.resolve().name.lower()).lstrip("_-")
    return kept or "bot-persistence"


def compose_file(root: Path | None = None) -> Path:
    """``compose/docker-compose.yml`` of the checkout."""
    return (root or checkout_root()) / "compose" / "docker-compose.yml"


def _compose_environment(settings: Settings) -> dict[str, str]:
    """What the compose file interpolates, from settings (the password stays in the env)."""
    return {
        **os.environ,
        "POSTGRES_IMAGE": settings.postgres_image,
        "POSTGRES_DB": settings.postgres_db,
        "POSTGRES_USER": settings.postgres_user,
        "POSTGRES_PASSWORD": settings.postgres_password.get_secret_value(),
        "POSTGRES_PORT": str(settings.postgres_port),
    }


class _ServiceContainer:
    """The service's container in the shape testcontainers' wait strategies take."""

    def __init__(self, container: Container, port: int) -> None:
        self._container = container
        self._port = port

    def get_container_host_ip(self) -> str:
        return "127.0.0.1"

    def get_exposed_port(self, port: int) -> int:
        return self._port

    def get_wrapped_container(self) -> Container:
        return self._container

    def get_logs(self) -> tuple[bytes, bytes]:
        return self._container.logs(stderr=False), self._container.logs(stdout=False)

    def reload(self) -> None:
        self._container.reload()

    @property
    def status(self) -> str:
        return str(self._container.status)


class ComposeBackend(Backend):
    """``postgres-db`` from ``compose/docker-compose.yml``, data in a named volume."""

    name = "compose"

    def __init__(self, settings: Settings, *, file: Path | None = None) -> None:
        super().__init__(settings)
        self._file = file

    @property
    def project(self) -> str:
        """The Compose project name: ``BOT_DB_COMPOSE_PROJECT``, else the checkout's."""
        return self.settings.compose_project or default_project_name(
            self._file.parent.parent if self._file else checkout_root()
        )

    @property
    def volume(self) -> str:
        """The Docker name of the data volume."""
        return f"{self.project}_{VOLUME}"

    # -- running compose and docker ------------------------------------------------------

    def _compose(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        file = self._file or compose_file()
        command = [*compose_command(), "--project-name", self.project, "--file", str(file), *args]
        result = run_command(
            command, env=_compose_environment(self.settings), cwd=file.parent, timeout=timeout
        )
        if result.returncode == TIMED_OUT:
            raise ServerStartError(
                f"`compose {args[0]}` for {SERVICE} did not finish within {timeout:.0f}s; "
                "check the engine with `docker info`"
            )
        return result

    def _docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_docker(*args, timeout=30)

    def _container_id(self) -> str | None:
        """The service's container, running or not, found by the labels Compose puts on it.

        (``docker ps`` answers in milliseconds; ``docker-compose ps`` takes a second.)
        """
        result = self._docker(
            "ps",
            "--all",
            "--quiet",
            "--filter",
            f"label=com.docker.compose.project={self.project}",
            "--filter",
            f"label=com.docker.compose.service={SERVICE}",
        )
        if result.returncode != 0:
            raise engine_down(result.stderr)
        found = result.stdout.strip().splitlines()
        return found[0] if found else None

    def _state(self, container_id: str) -> tuple[str, str]:
        """The container's state and health (``running``/``healthy``, ...)."""
        result = self._docker(
            "inspect",
            "--format",
            "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
            container_id,
        )
        if result.returncode != 0:
            return "missing", ""
        state, _, health = result.stdout.strip().partition(" ")
        return state, health

    def _volume_exists(self) -> bool:
        return self._docker("volume", "inspect", self.volume).returncode == 0

    # -- the backend ---------------------------------------------------------------------

    def up(self) -> ServerReady:
        require_engine_cli()
        compose_command()
        port = self.settings.postgres_port
        container_id = self._container_id()
        if container_id is not None and self._state(container_id) == ("running", "healthy"):
            return ServerReady(created=False, started=False, detail=f"volume {self.volume}")
        running = container_id is not None and self._state(container_id)[0] == "running"
        if not running and port_accepts("127.0.0.1", port):
            raise PortInUseError(port)
        ensure_image_cli(self.settings.postgres_image, may_pull=self.settings.may_pull_images)
        created = not self._volume_exists()
        result = self._compose("up", "--detach", SERVICE)
        if result.returncode != 0:
            raise self._up_failed(result.stderr)
        container_id = self._container_id()
        if container_id is None:
            raise ServerStartError(
                f"compose started no {SERVICE} container; run `docker compose -f "
                f"compose/docker-compose.yml -p {self.project} logs {SERVICE}` to see why"
            )
        self._wait_healthy(container_id)
        return ServerReady(created=created, started=True, detail=f"volume {self.volume}")

    def _up_failed(self, stderr: str) -> BackendUnavailableError | ProvisionError:
        lowered = stderr.lower()
        if "port is already allocated" in lowered or "address already in use" in lowered:
            return PortInUseError(self.settings.postgres_port)
        if "cannot connect to the docker daemon" in lowered or "permission denied" in lowered:
            return engine_down(stderr)
        lines = [line for line in stderr.strip().splitlines() if line.strip()]
        last = lines[-1] if lines else "no output"
        return ServerStartError(f"compose could not start {SERVICE}: {last}")

    def _wait_healthy(self, container_id: str) -> None:
        """Wait, bounded by BOT_DB_STARTUP_TIMEOUT, for the service's healthcheck to pass."""
        try:
            import docker
            import docker.errors
            from testcontainers.core.wait_strategies import HealthcheckWaitStrategy
        except ImportError:
            raise BackendUnavailableError(
                "the compose backend waits through testcontainers: run "
                "`pip install 'bot-persistence[docker]'`, or use --backend embedded"
            ) from None
        try:
            client = docker.from_env(timeout=10)
        except docker.errors.DockerException as exc:
            raise engine_down(str(exc)) from None
        try:
            target: Any = _ServiceContainer(
                client.containers.get(container_id), self.settings.postgres_port
            )
            HealthcheckWaitStrategy().with_poll_interval(0.2).with_startup_timeout(
                int(self.settings.startup_timeout)
            ).wait_until_ready(target)
        except (TimeoutError, RuntimeError):
            state, health = self._state(container_id)
            raise ServerStartError(
                f"{SERVICE} did not become healthy within {self.settings.startup_timeout:.0f}s "
                f"(container {state}, health {health or 'unknown'}); see `docker logs "
                f"{container_id[:12]}`"
            ) from None
        finally:
            client.close()

    def down(self, *, purge: bool = False) -> str:
        require_engine_cli()
        existed = self._volume_exists()
        container_id = self._container_id()
        if container_id is not None:
            # Stopped first, within the image's own stop signal (SIGINT, a fast
            # shutdown); `rm -v` then drops the anonymous volume an image may
            # declare for itself (PostgreSQL 18's /var/lib/postgresql). The
            # named volume stays.
            self._docker("stop", container_id)
            self._docker("rm", "--force", "--volumes", container_id)
        result = self._compose("down", *(["--volumes"] if purge else []))
        if result.returncode != 0:
            raise engine_down(result.stderr)
        if purge:
            return f"removed {SERVICE} and volume {self.volume}" if existed else "nothing to delete"
        return f"stopped {SERVICE}; data kept in volume {self.volume}"

    def status(self) -> BackendStatus:
        require_engine_cli()
        container_id = self._container_id()
        data = f"volume {self.volume}" if self._volume_exists() else None
        if container_id is None:
            return BackendStatus(
                running=False, detail="not running" if data else "not created yet", data=data
            )
        state, health = self._state(container_id)
        detail = f"{SERVICE} {state}" + (f", {health}" if health else "")
        if state == "running":
            detail += f" on 127.0.0.1:{self.settings.postgres_port}"
        return BackendStatus(running=state == "running", detail=detail, data=data)
