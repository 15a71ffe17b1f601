"""The contributor's loop through nox, each beside its floor measured in the same run.

- ``nox -s db`` warm (environment installed, server running) against the bare
  ``bot-db up`` of that environment: what nox adds on top of the work.
- ``nox -s db`` cold (a new environment, a new data folder: a fresh clone)
  against a cold ``bot-db up`` (a new data folder only): what installing adds.
  Both with nox's uv backend (when uv is installed) and with venv + pip. The
  package caches of uv and pip are warm, as on a contributor's second clone.
- ``bot-db check`` as a process against its floor: ``python -c pass`` plus one
  psycopg connection, the least any process that answers the question pays.

Every run is a new process, as a contributor runs it, so imports count.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks._harness import Bench
from bot_persistence.project import project_root
from bot_persistence.provision.base import free_port

WARM_RUNS = 5
COLD_RUNS = 3
ROOT = project_root()
CONNECT = "import sys, psycopg; psycopg.connect(sys.argv[1], connect_timeout=5).close()"


def _quiet(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(
        command,
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _nox(env: dict[str, str], envdir: Path, backend: str, *posargs: str) -> None:
    command = [sys.executable, "-m", "nox", "--envdir", str(envdir), "-db", backend, "-s", "db"]
    _quiet([*command, "--", *posargs] if posargs else command, env)


def _bot_db(envdir: Path, env: dict[str, str], *args: str) -> None:
    _quiet([str(envdir / "db" / "bin" / "bot-db"), *args], env)


def _backends() -> list[str]:
    """nox's uv backend where uv can be found (as nox finds it), and always venv + pip."""
    has_uv = shutil.which("uv") is not None or importlib.util.find_spec("uv") is not None
    return ["uv", "venv"] if has_uv else ["venv"]


def run(bench: Bench) -> None:
    # Under .nox/ (git-ignored), beside the environments nox keeps anyway.
    (ROOT / ".nox").mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-loop-", dir=ROOT / ".nox"))
    base_env = {key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "CI"}}
    env = {
        **base_env,
        "POSTGRES_PORT": str(free_port()),
        "BOT_DB_BACKEND": "embedded",
        "BOT_DB_DATA_DIR": str(scratch / "devdb"),
        "DATABASE_URL": "",
    }
    cold_env = {
        **env,
        "POSTGRES_PORT": str(free_port()),
        "BOT_DB_DATA_DIR": str(scratch / "cold-devdb"),
    }
    warm_envdir = {backend: scratch / f"nox-{backend}" for backend in _backends()}
    first = next(iter(warm_envdir.values()))
    try:
        for backend, envdir in warm_envdir.items():
            _nox(env, envdir, backend)  # installs, and starts the server once
        _warm(bench, env, warm_envdir)
        _cold(bench, cold_env, scratch, first)
        _check(bench, env, first)
    finally:
        _bot_db(first, env, "down", "--purge", "--yes")
        shutil.rmtree(scratch, ignore_errors=True)


def _warm(bench: Bench, env: dict[str, str], envdirs: dict[str, Path]) -> None:
    for backend, envdir in envdirs.items():
        bare = bench.time(
            f"bot-db up, warm ({backend} env; baseline)",
            functools.partial(_bot_db, envdir, env, "up"),
            repeat=WARM_RUNS,
        )
        through_nox = bench.time(
            f"nox -s db, warm, {backend}",
            functools.partial(_nox, env, envdir, backend),
            repeat=WARM_RUNS,
        )
        bench.record(bare)
        bench.record(through_nox, baseline=bare, bar=1.5, bar_seconds=True)


def _cold(bench: Bench, env: dict[str, str], scratch: Path, warm: Path) -> None:
    def purge() -> None:
        _bot_db(warm, env, "down", "--purge", "--yes")

    bare = bench.time(
        "bot-db up, cold: new data folder (baseline)",
        lambda: _bot_db(warm, env, "up"),
        repeat=COLD_RUNS,
        teardown=purge,
    )
    bench.record(bare)
    for backend in _backends():
        envdir = scratch / f"cold-nox-{backend}"

        fresh_clone = functools.partial(_fresh_clone, purge, envdir)
        cold = bench.time(
            f"nox -s db, cold: new env + data folder, {backend}",
            functools.partial(_nox, env, envdir, backend),
            repeat=COLD_RUNS,
            setup=fresh_clone,
        )
        bench.record(cold, baseline=bare, bar=15.0, bar_seconds=True)
        fresh_clone()


def _fresh_clone(purge: Callable[[], None], envdir: Path) -> None:
    purge()
    shutil.rmtree(envdir, ignore_errors=True)


def _check(bench: Bench, env: dict[str, str], envdir: Path) -> None:
    python = str(envdir / "db" / "bin" / "python")
    url = subprocess.run(
        [str(envdir / "db" / "bin" / "bot-db"), "url"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    floor = bench.time(
        "python -c pass + one psycopg connect (baseline)",
        lambda: _quiet([python, "-c", CONNECT, url], env),
        repeat=WARM_RUNS,
        warmup=1,
    )
    check = bench.time(
        "bot-db check, as a process",
        lambda: _bot_db(envdir, env, "check"),
        repeat=WARM_RUNS,
        warmup=1,
    )
    bench.record(floor)
    bench.record(check, baseline=floor, bar=1.0, bar_seconds=True)
