"""The container backends' failures before any PostgreSQL runs: one actionable line each.

A stand-in ``docker`` program on PATH plays an engine that is down or an image
that cannot be pulled; the real Docker SDK meets a socket nobody listens on.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot_persistence.provision import cleanup, compose
from bot_persistence.provision.base import free_port
from bot_persistence.settings import Settings
from tests.helpers import bot_db


def make(**values: object) -> Settings:
    """Settings on a port nobody uses: a dev server on 5433 must not change the outcome."""
    values.setdefault("postgres_port", free_port())
    values.setdefault("branch_databases", False)  # whatever branch this checkout is on
    return Settings.from_values(postgres_password="container-secret", **values)


@pytest.fixture(autouse=True)
def _fresh_compose_detection() -> Iterator[None]:
    compose.compose_command.cache_clear()
    yield
    compose.compose_command.cache_clear()


def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    """Put a ``docker`` (and ``docker-compose``) made of ``script`` first and alone on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("docker", "docker-compose"):
        program = bin_dir / name
        program.write_text(f"#!/bin/sh\n{script}\n")
        program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")


def test_compose_backend_without_docker_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = bot_db(make(), "up", "--backend", "compose")
    assert code == 2
    assert "no `docker` program" in err
    assert "--backend embedded" in err
    assert err.count("\n") == 1


def test_engine_that_does_not_answer_is_one_line_with_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_docker(
        tmp_path,
        monkeypatch,
        'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock." >&2; exit 1',
    )
    code, out, err = bot_db(make(), "up", "--backend", "compose")
    assert code == 2
    assert "no Docker engine answers" in err
    assert "start it" in err
    assert "container-secret" not in out + err


def test_engine_that_refuses_this_user_names_the_docker_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_docker(tmp_path, monkeypatch, 'echo "permission denied on the socket" >&2; exit 1')
    code, _, err = bot_db(make(), "up", "--backend", "compose")
    assert code == 2
    assert "docker group" in err


def test_missing_image_without_a_registry_points_at_the_offline_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An engine that answers, has no images and reaches no registry.
    fake_docker(
        tmp_path,
        monkeypatch,
        """case "$1 $2" in
  "version --format") echo 20.10.24 ;;
  "compose version") exit 1 ;;
  "ps --all") exit 0 ;;
  "pull "*) echo "dial tcp: lookup registry-1.docker.io: no such host" >&2; exit 1 ;;
  *) exit 1 ;;
esac""",
    )
    code, _, err = bot_db(make(postgres_image="postgres:18"), "up", "--backend", "compose")
    assert code == 2
    assert "image postgres:18 is not on this machine" in err
    assert "nox -s image" in err
    assert "POSTGRES_IMAGE=bot-persistence/postgres:15-offline" in err


def test_image_pull_never_names_the_absent_image_without_asking_a_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # BOT_DB_IMAGE_PULL=never: an absent image is an error at once, and no pull runs.
    tried = tmp_path / "pull-tried"
    fake_docker(
        tmp_path,
        monkeypatch,
        f"""case "$1 $2" in
  "version --format") echo 20.10.24 ;;
  "compose version") exit 1 ;;
  "ps --all") exit 0 ;;
  "pull "*) touch {tried}; exit 1 ;;
  *) exit 1 ;;
esac""",
    )
    settings = make(postgres_image="postgres:18", image_pull="never")
    code, _, err = bot_db(settings, "up", "--backend", "compose")
    assert code == 2
    assert "image postgres:18 is not on this machine and BOT_DB_IMAGE_PULL=never" in err
    assert "nox -s image" in err
    assert not tried.exists()


def test_image_pull_is_missing_or_never() -> None:
    assert Settings.from_values().image_pull == "missing"
    with pytest.raises(ValueError, match="'missing' or 'never'"):
        Settings.from_values(image_pull="always")


def test_compose_v2_is_preferred_and_v1_is_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_docker(tmp_path, monkeypatch, '[ "$1" = compose ] && exit 0; exit 1')
    assert compose.compose_command()[1:] == ("compose",)
    compose.compose_command.cache_clear()
    (tmp_path / "bin" / "docker").write_text("#!/bin/sh\nexit 1\n")
    assert compose.compose_command() == (str(tmp_path / "bin" / "docker-compose"),)


def test_docker_backend_with_no_engine_on_the_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nobody-listens.sock")
    code, _, err = bot_db(make(), "up", "--backend", "docker")
    gc.collect()  # a socket left unclosed would be reported now, as an error
    assert code == 2
    assert "no Docker engine answers" in err


def test_docker_backend_without_testcontainers_says_which_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "testcontainers.community.postgres", None)
    code, _, err = bot_db(make(), "up", "--backend", "docker")
    assert code == 2
    assert "bot-persistence[docker]" in err


def test_a_dead_owner_is_told_from_a_live_one_and_other_hosts_are_left_alone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    host = cleanup.owner_label().split(":")[0]
    assert cleanup.owner_alive(cleanup.owner_label())
    assert not cleanup.owner_alive(f"{host}:{child.pid}:{cleanup.start_time(os.getpid())}")
    assert not cleanup.owner_alive(f"{host}:{os.getpid()}:0.00")  # pid reused by another process
    assert cleanup.owner_alive(f"elsewhere:{child.pid}:1.00")


def test_backends_register_on_import_without_testcontainers_installed() -> None:
    code = (
        "import sys; sys.modules['testcontainers'] = None; sys.modules['docker'] = None; "
        "import bot_persistence.provision as p; print(sorted(p.BACKENDS))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "['compose', 'docker', 'embedded', 'external']"


@pytest.mark.parametrize(
    ("present", "pulls", "expected"),
    [
        ({"postgres:15"}, False, "postgres:15"),
        ({"bot-persistence/postgres:15-offline"}, False, "bot-persistence/postgres:15-offline"),
        (set(), True, "postgres:15"),
        (set(), False, None),
    ],
    ids=["official-here", "offline-for-15", "pulled", "nothing"],
)
def test_container_image_for_a_major(
    monkeypatch: pytest.MonkeyPatch, present: set[str], pulls: bool, expected: str | None
) -> None:
    from bot_persistence.errors import ImageUnavailableError
    from bot_persistence.provision import scratch

    def ensure(image: str) -> bool:
        if not pulls:
            raise ImageUnavailableError("no registry")
        return True

    monkeypatch.setattr(scratch, "_container_support", lambda: True)
    monkeypatch.setattr(scratch, "image_present", lambda image: image in present)
    monkeypatch.setattr(scratch, "ensure_image_cli", ensure)
    assert scratch.container_image_for(15, "postgres:18", pull=True) == expected
    # BOT_DB_IMAGE_PULL=never: what is here serves, nothing is pulled.
    here = None if expected == "postgres:15" and not present else expected
    assert scratch.container_image_for(15, "postgres:18", pull=True, may_pull=False) == here
    # POSTGRES_IMAGE of another major is never used for this one.
    assert scratch.container_image_for(18, "postgres:15", pull=False) is None


def test_container_image_without_pulling_leaves_the_offline_image_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Without --container the roundtrip prefers local binaries to the offline image.
    from bot_persistence.provision import scratch

    monkeypatch.setattr(scratch, "_container_support", lambda: True)
    monkeypatch.setattr(
        scratch, "image_present", lambda image: image == "bot-persistence/postgres:15-offline"
    )
    assert scratch.container_image_for(15, None) is None


@pytest.mark.parametrize("may_pull", [True, False], ids=["offline", "pull-never"])
def test_an_absent_image_points_at_the_offline_image_already_here(
    monkeypatch: pytest.MonkeyPatch, may_pull: bool
) -> None:
    from bot_persistence.provision import engine

    monkeypatch.setattr(engine, "image_present", lambda image: image == engine.OFFLINE_IMAGE)
    message = str(engine.image_unavailable("postgres:18", may_pull=may_pull))
    assert f"{engine.OFFLINE_IMAGE} is on this machine already" in message
    assert "nox -s image" not in message
    monkeypatch.setattr(engine, "image_present", lambda image: False)
    assert "nox -s image" in str(engine.image_unavailable("postgres:18", may_pull=may_pull))
