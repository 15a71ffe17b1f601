"""Container backends against the embedded one, in one run on the same machine.

- ``bot-db up --backend compose``, cold (a new volume, the image cached): up,
  healthy, migrated, seeded, probed; and warm (the service running);
- a testcontainers throw-away server from start to ready (``throwaway_container``);
- beside the embedded backend's cold and warm ``bot-db up``, the baseline.

Every ``bot-db`` run is a new process, as a contributor runs it. Without a
Docker engine the container rows are skipped with the reason printed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from benchmarks._harness import Bench, Measurement
from bot_persistence.errors import BotPersistenceError
from bot_persistence.provision.base import free_port
from bot_persistence.provision.docker import throwaway_container
from bot_persistence.provision.engine import container_image
from bot_persistence.settings import Settings

RUNS = 3


def _bot_db(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "bot_persistence", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def run(bench: Bench) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-containers-", dir=Path.cwd()))
    base_env = {**os.environ, "DATABASE_URL": "", "BOT_DB_STARTUP_TIMEOUT": "90"}
    embedded_env = {
        **base_env,
        "BOT_DB_BACKEND": "embedded",
        "POSTGRES_PORT": str(free_port()),
        "BOT_DB_DATA_DIR": str(scratch / "devdb"),
    }
    try:
        embedded_cold = bench.time(
            "embedded bot-db up, cold (baseline)",
            lambda: _bot_db(embedded_env, "up"),
            repeat=RUNS,
            teardown=lambda: _bot_db(embedded_env, "down", "--purge", "--yes"),
        )
        _bot_db(embedded_env, "up")
        embedded_warm = bench.time(
            "embedded bot-db up, warm", lambda: _bot_db(embedded_env, "up"), repeat=RUNS
        )
        _bot_db(embedded_env, "down", "--purge", "--yes")
        bench.record(embedded_cold)
        bench.record(embedded_warm)

        try:
            image = container_image(os.environ.get("POSTGRES_IMAGE"))
        except BotPersistenceError as exc:
            print(f"containers: skipped, no Docker engine: {exc}", file=sys.stderr)
            return
        print(f"containers: image {image}", file=sys.stderr)
        _containers(bench, base_env, image, embedded_cold, embedded_warm)
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _bot_db(embedded_env, "down", "--purge", "--yes")
        shutil.rmtree(scratch, ignore_errors=True)


def _containers(
    bench: Bench, base_env: dict[str, str], image: str, cold: Measurement, warm: Measurement
) -> None:
    compose_env = {
        **base_env,
        "BOT_DB_BACKEND": "compose",
        "POSTGRES_IMAGE": image,
        "POSTGRES_PORT": str(free_port()),
        "BOT_DB_COMPOSE_PROJECT": f"bench-{uuid.uuid4().hex[:8]}",
    }
    try:
        compose_cold = bench.time(
            "compose bot-db up, cold: healthy, migrated, seeded",
            lambda: _bot_db(compose_env, "up"),
            repeat=RUNS,
            teardown=lambda: _bot_db(compose_env, "down", "--purge", "--yes"),
        )
        _bot_db(compose_env, "up")
        compose_warm = bench.time(
            "compose bot-db up, warm: service running",
            lambda: _bot_db(compose_env, "up"),
            repeat=RUNS,
        )
    finally:
        _bot_db(compose_env, "down", "--purge", "--yes")
    bench.record(compose_cold, baseline=cold)
    bench.record(compose_warm, baseline=warm)

    settings = Settings.from_values(postgres_image=image, startup_timeout=90)
    held = contextlib.ExitStack()
    throwaway = bench.time(
        "throwaway_container (testcontainers): start to ready",
        lambda: held.enter_context(throwaway_container(settings)),
        repeat=RUNS + 2,
        teardown=held.close,
    )
    bench.record(throwaway, baseline=cold)
