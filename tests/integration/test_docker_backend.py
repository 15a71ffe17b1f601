"""Throw-away servers through testcontainers: ready when yielded, gone after, whatever happens."""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from bot_persistence import cli
from bot_persistence.provision.base import free_port
from bot_persistence.provision.docker import LABEL_OWNER, LABEL_ROLE, throwaway_container
from bot_persistence.settings import Settings
from tests.helpers import PASSWORD, scalar

pytestmark = pytest.mark.docker

CHILD = textwrap.dedent(
    """
    import sys
    from bot_persistence.provision.docker import throwaway_container
    from bot_persistence.settings import Settings

    settings = Settings.from_values(
        postgres_image=sys.argv[1], postgres_password="child-password", startup_timeout=60
    )
    with throwaway_container(settings) as served:
        print(served.postgres_port, flush=True)
        sys.stdin.readline()
    """
)


@pytest.fixture
def engine_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    try:
        yield client
    finally:
        client.close()


def settings_for(image: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "postgres_image": image,
        "postgres_db": "throwaway",
        "postgres_password": PASSWORD,
        "startup_timeout": 60,
        "branch_databases": False,  # one database whatever branch this checkout is on
    }
    return Settings.from_values(**{**values, **overrides})


def containers_of(
    client: docker.DockerClient, pid: int, *, besides: set[str] | None = None
) -> list[str]:
    """Ids of throw-away containers whose owner label names process ``pid``.

    ``besides``: ids to leave out, such as the run's own server under ``--db-pg``.
    """
    found = client.containers.list(all=True, filters={"label": f"{LABEL_ROLE}=throwaway"})
    return [
        c.id
        for c in found
        if f":{pid}:" in c.labels.get(LABEL_OWNER, "") and c.id not in (besides or set())
    ]


@contextlib.contextmanager
def child_holding_a_server(image: str) -> Iterator[subprocess.Popen[str]]:
    """A run that holds a throw-away server until its stdin says stop; ready when it prints."""
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, image],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path.cwd())},
    ) as child:
        try:
            assert child.stdout is not None
            ready, _, _ = select.select([child.stdout], [], [], 90)
            assert ready, "the child did not report a ready server within 90s"
            assert child.stdout.readline().strip().isdigit()
            yield child
        finally:
            child.kill()


def test_throwaway_server_is_ready_on_loopback_and_removed_after_use(
    postgres_image: str, engine_client: docker.DockerClient
) -> None:
    before = set(containers_of(engine_client, os.getpid()))
    with throwaway_container(settings_for(postgres_image)) as served:
        assert served.postgres_host == "127.0.0.1"
        assert served.database == "throwaway"
        assert served.password == PASSWORD
        assert scalar(served, "SELECT current_database()") == "throwaway"
        assert scalar(served, "SHOW fsync") == "off"
        running = containers_of(engine_client, os.getpid(), besides=before)
        assert len(running) == 1
        ports = engine_client.containers.get(running[0]).attrs["NetworkSettings"]["Ports"]
        assert {binding["HostIp"] for binding in ports["5432/tcp"]} == {"127.0.0.1"}
    assert containers_of(engine_client, os.getpid(), besides=before) == []


def test_throwaway_server_is_removed_when_the_body_raises(
    postgres_image: str, engine_client: docker.DockerClient
) -> None:
    held: list[str] = []
    before = set(containers_of(engine_client, os.getpid()))
    with (  # noqa: PT012 - the body is what raises inside the server
        pytest.raises(RuntimeError, match="test body failed"),
        throwaway_container(settings_for(postgres_image)),
    ):
        held = containers_of(engine_client, os.getpid(), besides=before)
        raise RuntimeError("test body failed")
    assert len(held) == 1
    assert containers_of(engine_client, os.getpid(), besides=before) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_removes_its_container(
    postgres_image: str, engine_client: docker.DockerClient, signum: int
) -> None:
    with child_holding_a_server(postgres_image) as child:
        assert len(containers_of(engine_client, child.pid)) == 1
        child.send_signal(signum)
        assert child.wait(timeout=60) != 0
    assert containers_of(engine_client, child.pid) == []


def test_container_of_a_killed_run_is_removed_by_the_next_run(
    postgres_image: str, engine_client: docker.DockerClient
) -> None:
    with child_holding_a_server(postgres_image) as child:
        child.kill()  # SIGKILL: no handler, no finally, no atexit
        child.wait(timeout=30)
    left = containers_of(engine_client, child.pid)
    assert len(left) == 1
    with throwaway_container(settings_for(postgres_image)):
        assert containers_of(engine_client, child.pid) == []


def test_bot_db_up_with_the_docker_backend_gives_the_same_url_shape(postgres_image: str) -> None:
    settings = settings_for(
        postgres_image, postgres_port=free_port(), postgres_db="bot", backend="docker"
    )
    out, err = io.StringIO(), io.StringIO()
    try:
        code = cli.main(["up"], settings=settings, stdout=out, stderr=err, stdin=io.StringIO())
        assert (code, err.getvalue()) == (0, "")
        assert f"postgresql+psycopg://bot:***@127.0.0.1:{settings.postgres_port}/bot" in (
            out.getvalue()
        )
        assert PASSWORD not in out.getvalue()
        assert scalar(settings, "SELECT count(*) FROM users") == 4
    finally:
        down = io.StringIO()
        assert cli.main(["down"], settings=settings, stdout=down, stderr=down) == 0
    assert "removed container" in down.getvalue()
