"""Throw-away PostgreSQL in a container, through testcontainers (``--backend docker``).

Tests and CI want a server that exists for one run and leaves nothing behind.
testcontainers starts it (configure -> start -> wait -> connect); the readiness
check is its ``ExecWaitStrategy`` running ``pg_isready`` inside the container,
on the container's own TCP loopback, which the image's start-up server (socket
only) does not answer: ready means the real server is up.

Cleanup is ours, not the reaper container's: labels, ``finally``, signals,
``atexit``, and a sweep of containers whose owner died (see
:mod:`bot_persistence.provision.cleanup`).

The data directory lives on a tmpfs inside the container, with fsync off:
nothing in a throw-away server is worth a disk write.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from bot_persistence.connection import connect
from bot_persistence.errors import (
    BackendUnavailableError,
    PortInUseError,
    ServerStartError,
)
from bot_persistence.provision.base import (
    Backend,
    BackendStatus,
    ServerReady,
    port_accepts,
)
from bot_persistence.provision.cleanup import (
    LABEL_OWNER,
    LABEL_ROLE,
    ROLE_DEV,
    ROLE_THROWAWAY,
    hold,
    owner_labels,
    release,
    remove,
    remove_stale_containers,
    removed_on_termination,
)
from bot_persistence.provision.engine import engine_down, image_unavailable
from bot_persistence.settings import Settings

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container
    from testcontainers.community.postgres import PostgresContainer

__all__ = [
    "LABEL_OWNER",
    "LABEL_ROLE",
    "DockerBackend",
    "docker_client",
    "remove_stale_containers",
    "throwaway_container",
]

_log = logging.getLogger(__name__)

#: Where the data directory goes: below the mount point, as the official image
#: asks for mounted volumes, and the same path on PostgreSQL 15 and 18 images
#: (18 would otherwise refuse a mount at ``/var/lib/postgresql/data``).
DATA_MOUNT = "/var/lib/postgresql/data"
PGDATA = f"{DATA_MOUNT}/pgdata"
_THROWAWAY_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
_CONTAINER_PORT = 5432
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


# -- the engine, through the Docker SDK that testcontainers brings ------------------


def _require_testcontainers() -> None:
    try:
        import testcontainers.community.postgres  # noqa: F401
    except ImportError:
        raise BackendUnavailableError(
            "the docker backend needs testcontainers: run "
            "`pip install 'bot-persistence[docker]'`, or use --backend embedded"
        ) from None


def _local_socket_refusal() -> str | None:
    """Why the engine's Unix socket refuses a connection; None when it accepts (or is not one).

    Asked before the Docker SDK is: the SDK leaves the socket of a failed
    connect unclosed, which a run with warnings as errors reports far from here.
    The SDK reads ``DOCKER_HOST`` itself; this mirrors it.
    """
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    family = getattr(socket, "AF_UNIX", None)
    if family is None or not host.startswith("unix://"):
        return None
    path = host.removeprefix("unix://")
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            sock.connect(path)
        except OSError as exc:
            return f"{path}: {exc.strerror or exc}"
    return None


def docker_client() -> docker.DockerClient:
    """A client whose engine has answered, or our typed error saying why not."""
    _require_testcontainers()
    import docker
    import docker.errors

    refusal = _local_socket_refusal()
    if refusal is not None:
        raise engine_down(refusal)
    try:
        client = docker.from_env(timeout=10)
    except docker.errors.DockerException as exc:
        raise engine_down(str(exc)) from None
    try:
        client.ping()
    except docker.errors.DockerException as exc:
        client.close()
        raise engine_down(str(exc)) from None
    return client


def _ensure_image(client: docker.DockerClient, image: str, *, may_pull: bool) -> None:
    """Pull ``image`` when absent (if ``may_pull``); else say how to build it offline."""
    import docker.errors

    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    if not may_pull:
        raise image_unavailable(image, may_pull=False)
    _log.info("image %s is not here; pulling it", image)
    try:
        client.images.pull(image)
    except docker.errors.DockerException:
        raise image_unavailable(image) from None


# -- the container ---------------------------------------------------------------------


def _postgres_container(
    settings: Settings, *, role: str, host_port: int | None, durable: bool
) -> PostgresContainer:
    """A testcontainers PostgresContainer for ``settings``, not started yet."""
    from testcontainers.community.postgres import PostgresContainer
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.wait_strategies import ExecWaitStrategy

    # Cleanup is ours (labels, atexit, signals, the stale sweep): no reaper image.
    testcontainers_config.ryuk_disabled = True
    labels = owner_labels(role, host_port)

    class _Postgres(PostgresContainer):
        """Published on loopback only when the engine is local; ready by ``pg_isready``."""

        def _configure(self) -> None:
            super()._configure()
            host = self.get_docker_client().host()
            if host in _LOCAL_HOSTS:
                # A throw-away password must not be reachable from the network.
                binding: Any = ("127.0.0.1", host_port)
                self.ports[str(_CONTAINER_PORT)] = binding
            elif host_port is not None:
                self.with_bind_ports(_CONTAINER_PORT, host_port)

        def _connect(self) -> None:
            ExecWaitStrategy(
                [
                    "pg_isready",
                    "--host=127.0.0.1",
                    f"--username={settings.user}",
                    f"--dbname={settings.database}",
                ]
            ).with_poll_interval(0.1).with_startup_timeout(
                int(settings.startup_timeout)
            ).wait_until_ready(self)

    container = _Postgres(
        settings.postgres_image,
        username=settings.user,
        password=settings.password,
        dbname=settings.database,
        driver="psycopg",
        labels=labels,
    )
    container.with_env("PGDATA", PGDATA)
    if not durable:
        # On PGDATA itself: the entrypoint chowns PGDATA to the server's user,
        # but not its parents, and a tmpfs mount there would stay root's.
        container.with_tmpfs_mount(PGDATA)
        command = ["postgres"]
        for setting in _THROWAWAY_SETTINGS:
            command += ["-c", setting]
        container.with_command(command)
    return container


def _start(container: PostgresContainer, settings: Settings) -> Settings:
    """Start ``container`` and wait until it serves ``settings``' user and database.

    Returns the settings pointing at it.
    """
    import docker.errors

    try:
        container.start()
    except TimeoutError:
        raise ServerStartError(
            f"PostgreSQL in {settings.postgres_image} did not become ready within "
            f"{settings.startup_timeout:.0f}s; see `docker logs` of the container, or "
            "raise BOT_DB_STARTUP_TIMEOUT"
        ) from None
    except docker.errors.ImageNotFound:
        raise image_unavailable(settings.postgres_image) from None
    except docker.errors.APIError as exc:
        explanation = str(exc.explanation or exc)
        if "port is already allocated" in explanation or "address already in use" in explanation:
            raise PortInUseError(settings.postgres_port) from None
        raise ServerStartError(
            f"Docker could not start {settings.postgres_image}: {explanation.splitlines()[0]}"
        ) from None
    port = int(container.get_exposed_port(_CONTAINER_PORT))
    host = container.get_container_host_ip()
    # testcontainers guesses a gateway address when it believes it runs in a
    # container; where the published port answers on loopback, loopback it is.
    if host in _LOCAL_HOSTS or port_accepts("127.0.0.1", port):
        host = "127.0.0.1"
    served = settings.model_copy(
        update={
            "database_url": None,
            "postgres_host": host,
            "postgres_port": port,
            "backend": "external",
        }
    )
    # The container answers inside; this proves the published port does too.
    connect(served, wait=True).close()
    return served


@contextlib.contextmanager
def throwaway_container(settings: Settings) -> Iterator[Settings]:
    """Start a throw-away PostgreSQL container from settings.postgres_image; yield Settings
    pointing at it (host 127.0.0.1, the mapped port, user/password/db from settings); remove
    the container on exit, even on interrupt."""
    client = docker_client()
    try:
        remove_stale_containers(client)
        _ensure_image(client, settings.postgres_image, may_pull=settings.may_pull_images)
    finally:
        client.close()
    container = _postgres_container(settings, role=ROLE_THROWAWAY, host_port=None, durable=False)
    with removed_on_termination():
        try:
            served = _start(container, settings)
            hold(container.get_wrapped_container())
            yield served
        finally:
            _stop(container)


def _stop(container: PostgresContainer) -> None:
    """Remove the container (with its anonymous volumes) and forget it."""
    wrapped = container._container
    if wrapped is None:
        return
    release(wrapped)
    remove(wrapped)
    with contextlib.suppress(Exception):
        container.get_docker_client().client.close()


# -- the backend -----------------------------------------------------------------------


def _dev_name(settings: Settings) -> str:
    return f"bot-persistence-{settings.postgres_port}"


class DockerBackend(Backend):
    """A server in a plain container on ``POSTGRES_PORT``, gone with its data on ``down``.

    For a throw-away server from the command line (``bot-db up --backend
    docker``); data that must survive ``down`` belongs in the compose backend's
    named volume.
    """

    name = "docker"

    def _find(self, client: docker.DockerClient) -> Container | None:
        import docker.errors

        try:
            return client.containers.get(_dev_name(self.settings))
        except docker.errors.NotFound:
            return None

    def up(self) -> ServerReady:
        client = docker_client()
        try:
            found = self._find(client)
            if found is not None and found.status == "running":
                return ServerReady(created=False, started=False, detail=found.name or "")
            if found is not None:
                found.remove(force=True, v=True)
            if port_accepts("127.0.0.1", self.settings.postgres_port):
                raise PortInUseError(self.settings.postgres_port)
            _ensure_image(
                client,
                self.settings.postgres_image,
                may_pull=self.settings.may_pull_images,
            )
        finally:
            client.close()
        container = _postgres_container(
            self.settings, role=ROLE_DEV, host_port=self.settings.postgres_port, durable=True
        )
        container.with_name(_dev_name(self.settings))
        try:
            _start(container, self.settings)
        except BaseException:
            _stop(container)
            raise
        return ServerReady(created=True, started=True, detail=_dev_name(self.settings))

    def down(self, *, purge: bool = False) -> str:
        client = docker_client()
        try:
            found = self._find(client)
            if found is None:
                return "no container to remove"
            found.remove(force=True, v=True)
            return f"removed container {found.name} and its data"
        finally:
            client.close()

    def status(self) -> BackendStatus:
        client = docker_client()
        try:
            found = self._find(client)
        finally:
            client.close()
        if found is None:
            return BackendStatus(running=False, detail="no container")
        running = found.status == "running"
        detail = (
            f"container {found.name} running on 127.0.0.1:{self.settings.postgres_port}"
            if running
            else f"container {found.name} {found.status}"
        )
        return BackendStatus(running=running, detail=detail, data=f"inside {found.name}")
