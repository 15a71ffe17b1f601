"""`bot-db up/down --backend compose` against a real engine, in a Compose project of its own.

Every test runs on Compose v2 (`docker compose`, the plugin most users have)
and on v1 (`docker-compose`, what Debian ships). A missing one skips on a
laptop and fails in CI (.ci/run installs both).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from bot_persistence.provision import compose
from bot_persistence.provision.base import free_port
from bot_persistence.settings import Settings
from tests.helpers import PASSWORD, bot_db, scalar
from tests.integration.conftest import docker_required

pytestmark = pytest.mark.docker


def volume_exists(name: str) -> bool:
    result = subprocess.run(["docker", "volume", "inspect", name], capture_output=True, check=False)
    return result.returncode == 0


def _compose_version(command: list[str]) -> str | None:
    """The version ``command version --short`` reports, None when it does not run."""
    if shutil.which(command[0]) is None:
        return None
    found = subprocess.run(
        [*command, "version", "--short"], capture_output=True, text=True, check=False
    )
    return found.stdout.strip().removeprefix("v") if found.returncode == 0 else None


#: Compose v2 as a Docker CLI plugin, v1 as its own program.
VARIANTS = {"v2": ["docker", "compose"], "v1": ["docker-compose"]}


@pytest.fixture(params=sorted(VARIANTS, reverse=True))
def compose_cli(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Compose command line of this variant, made the one the backend runs."""
    variant = str(request.param)
    command = VARIANTS[variant]
    version = _compose_version(command)
    if version is None or not version.startswith(variant[1]):
        reason = f"Compose {variant} ({' '.join(command)}) is not installed (found {version})"
        if docker_required():
            pytest.fail(reason + "; .ci/run installs both")
        pytest.skip(reason)
    resolved = [shutil.which(command[0]) or command[0], *command[1:]]
    monkeypatch.setattr(compose, "compose_command", lambda: tuple(resolved))
    return resolved


@pytest.fixture
def compose_settings(postgres_image: str, compose_cli: list[str]) -> Iterator[Settings]:
    """A project and port of this test's own; purged afterwards whatever happened."""
    settings = Settings.from_values(
        postgres_image=postgres_image,
        postgres_port=free_port(),
        postgres_password=PASSWORD,
        backend="compose",
        compose_project=f"bp-test-{uuid.uuid4().hex[:8]}",
        startup_timeout=90,
        branch_databases=False,  # one database whatever branch this checkout is on
    )
    try:
        yield settings
    finally:
        bot_db(settings, "down", "--purge", "--yes")


def test_data_survives_down_and_up_and_is_gone_after_purge(compose_settings: Settings) -> None:
    volume = f"{compose_settings.compose_project}_postgres-data"
    code, out, err = bot_db(compose_settings, "up")
    assert (code, err) == (0, "")
    assert "backend   compose" in out
    assert "created and started" in out
    port = compose_settings.postgres_port
    assert f"postgresql+psycopg://bot:***@127.0.0.1:{port}/bot" in out
    assert PASSWORD not in out
    assert scalar(compose_settings, "SELECT count(*) FROM users") == 4
    scalar(compose_settings, "INSERT INTO guilds (id, name) VALUES (424242, 'kept') RETURNING id")

    code, out, _ = bot_db(compose_settings, "down")
    assert code == 0
    assert "data kept" in out
    assert volume_exists(volume)

    code, out, err = bot_db(compose_settings, "up")
    assert (code, err) == (0, "")
    assert "seed      kept existing rows" in out
    assert scalar(compose_settings, "SELECT name FROM guilds WHERE id = 424242") == "kept"

    code, out, _ = bot_db(compose_settings, "down", "--purge", "--yes")
    assert code == 0
    assert not volume_exists(volume)


def test_purge_without_consent_is_refused_and_keeps_the_volume(compose_settings: Settings) -> None:
    assert bot_db(compose_settings, "up")[0] == 0
    code, _, err = bot_db(compose_settings, "down", "--purge")
    assert code == 2
    assert "--yes" in err
    assert volume_exists(f"{compose_settings.compose_project}_postgres-data")


def test_status_reports_the_healthy_service_and_its_volume(compose_settings: Settings) -> None:
    assert bot_db(compose_settings, "up")[0] == 0
    code, out, _ = bot_db(compose_settings, "status")
    assert code == 0
    assert "postgres-db running, healthy" in out
    assert "users 4" in out


def test_up_on_a_taken_port_says_which_setting_to_change(compose_settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", compose_settings.postgres_port))
        taken.listen()
        code, _, err = bot_db(compose_settings, "up")
    assert code == 1
    assert f"port {compose_settings.postgres_port} on 127.0.0.1 is used by another program" in err
    assert "POSTGRES_PORT" in err


def test_up_with_an_image_nobody_can_pull_points_at_the_offline_build(
    compose_settings: Settings,
) -> None:
    missing = compose_settings.model_copy(
        update={"postgres_image": "bot-persistence/no-such-image:0"}
    )
    code, _, err = bot_db(missing, "up")
    assert code == 2
    assert "image bot-persistence/no-such-image:0 is not on this machine" in err
    # Build it, or, where compose/image/build.sh has built it already, use it.
    assert "nox -s image" in err or "15-offline is on this machine already" in err


def test_no_port_file_runs_without_publishing_a_port(
    compose_settings: Settings, compose_cli: list[str]
) -> None:
    project = compose_settings.compose_project
    assert project is not None
    file = compose.compose_file().parent / "docker-compose.no-port.yml"
    env = {
        **os.environ,
        "POSTGRES_IMAGE": compose_settings.postgres_image,
        "POSTGRES_PASSWORD": PASSWORD,
    }
    base = [*compose_cli, "--project-name", project, "--file", str(file)]
    try:
        started = subprocess.run(
            [*base, "up", "--detach"], env=env, capture_output=True, text=True, check=False
        )
        assert started.returncode == 0, started.stderr
        ports = subprocess.run(
            ["docker", "ps", "--filter", f"label=com.docker.compose.project={project}",
             "--format", "{{.Ports}}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert ports.stdout.strip() in {"", "5432/tcp"}
        assert "->" not in ports.stdout
    finally:
        subprocess.run([*base, "down", "--volumes"], env=env, capture_output=True, check=False)


OFFLINE_PGBOUNCER = "bot-persistence/pgbouncer:offline"


def _pgbouncer_image() -> str:
    """PGBOUNCER_IMAGE when given, else the offline image (compose/pgbouncer/build.sh)."""
    import os

    from bot_persistence.provision.engine import image_present

    image = os.environ.get("PGBOUNCER_IMAGE") or OFFLINE_PGBOUNCER
    if not image_present(image):
        reason = f"no PgBouncer image {image}; build one with compose/pgbouncer/build.sh"
        if os.environ.get("CI"):
            pytest.fail(reason + " (required: CI is set)")
        pytest.skip(reason)
    return image


async def test_the_pgbouncer_profile_puts_a_transaction_pooler_in_front(
    compose_settings: Settings,
) -> None:
    from sqlalchemy.engine import URL

    from bot_persistence.db import Database
    from bot_persistence.provision.compose import (
        _compose_environment,
        compose_command,
        compose_file,
    )
    from tests.helpers import wait_until

    image = _pgbouncer_image()
    code, _, err = bot_db(compose_settings, "up", "--no-seed")
    assert code == 0, err
    port = free_port()
    env = {
        **_compose_environment(compose_settings),
        "PGBOUNCER_IMAGE": image,
        "PGBOUNCER_PORT": str(port),
    }
    base = [
        *compose_command(),
        "--project-name",
        compose.ComposeBackend(compose_settings).project,
        "--file",
        str(compose_file()),
        "--profile",
        "pgbouncer",
    ]
    try:
        started = subprocess.run(
            [*base, "up", "--detach", "pgbouncer"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert started.returncode == 0, started.stderr
        url = URL.create(
            "postgresql",
            username=compose_settings.postgres_user,
            password=PASSWORD,
            host="127.0.0.1",
            port=port,
            database=compose_settings.postgres_db,
        )
        through = Settings.from_values(
            database_url=url.render_as_string(hide_password=False),
            pooler="transaction",
            backend="external",
        )

        def pooler_answers() -> bool:
            # Docker's proxy accepts on the published port before PgBouncer
            # listens inside the container: wait for an answer, not a socket.
            try:
                with psycopg.connect(through.plain_url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
            except psycopg.OperationalError:
                return False
            return True

        wait_until(pooler_answers, timeout=60, what="pgbouncer answering")
        code, out, err = bot_db(through, "check")
        assert code == 0, out + err
        async with Database.connect(through) as db:
            await db.ping()
    finally:
        subprocess.run(
            [*base, "down", "--volumes"], env=env, capture_output=True, timeout=300, check=False
        )
