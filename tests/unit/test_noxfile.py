"""The noxfile and .ci/toolchain: exit codes through nox, interpreters, installs from the lock.

Each case runs nox or imports the noxfile in a child process: importing it
changes PATH and nox's logging, which this process must not inherit.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nox.project
import pytest

from bot_persistence.project import project_root
from bot_persistence.provision.base import free_port

ROOT = project_root()


def nox_db(*args: str) -> subprocess.CompletedProcess[str]:
    """`nox -s db -- ARGS` in this environment (--no-venv), against a port nobody serves."""
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "DATABASE_URL": f"postgresql://bot:secret@127.0.0.1:{free_port()}/bot",
        "BOT_DB_BACKEND": "external",
        "BOT_DB_CONNECT_TIMEOUT": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "nox", "--no-venv", "-s", "db", "--", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [(["url"], 0), (["check"], 1), (["--no-such-option"], 2), (["migrate", "--to"], 2)],
    ids=["ok", "failed-check", "usage", "missing-value"],
)
def test_nox_db_exits_with_bot_db_own_code(args: list[str], code: int) -> None:
    done = nox_db(*args)
    assert done.returncode == code, done.stderr


def in_noxfile(expression: str, env: dict[str, str]) -> object:
    """Evaluate ``expression`` in a child process that has imported the noxfile."""
    script = (
        "import json, noxfile, toolchain.interpreters as interpreters,"
        " toolchain.installs as installs, toolchain.arguments as arguments;"
        f" print(json.dumps({expression}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def fake_python(folder: Path, minor: str) -> None:
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / f"python{minor}").write_text("")


def test_interpreters_are_found_in_pyenv_and_uv_newest_first(tmp_path: Path) -> None:
    pyenv, uv = tmp_path / "pyenv", tmp_path / "uv"
    fake_python(pyenv / "versions" / "3.12.1", "3.12")
    fake_python(pyenv / "versions" / "3.12.10", "3.12")
    fake_python(pyenv / "versions" / "3.13.0t", "3.13")  # free-threaded: not ours
    fake_python(uv / "cpython-3.12.8-linux-x86_64-gnu", "3.12")
    fake_python(uv / "cpython-3.13.1+freethreaded-linux-x86_64-gnu", "3.13")
    found = in_noxfile(
        "[str(p) for minor in ('3.12', '3.13') for p in interpreters.interpreter_dirs(minor)]",
        {"PYENV_ROOT": str(pyenv), "UV_PYTHON_INSTALL_DIR": str(uv)},
    )
    assert found == [
        str(pyenv / "versions" / "3.12.10" / "bin"),
        str(uv / "cpython-3.12.8-linux-x86_64-gnu" / "bin"),
        str(pyenv / "versions" / "3.12.1" / "bin"),
    ]


def test_found_interpreters_go_after_what_is_on_path(tmp_path: Path) -> None:
    fake_python(tmp_path / "versions" / "3.10.13", "3.10")
    path = in_noxfile("__import__('os').environ['PATH']", {"PYENV_ROOT": str(tmp_path)})
    assert isinstance(path, str)
    assert path.split(os.pathsep)[-1] == str(tmp_path / "versions" / "3.10.13" / "bin")
    assert path.startswith(os.environ["PATH"])


def test_install_key_follows_pyproject_and_groups() -> None:
    keys = in_noxfile(
        "[installs.install_key(['-e', '.']), installs.install_key(['-e', '.']),"
        " installs.install_key(['-e', '.', 'pytest'])]",
        {},
    )
    assert isinstance(keys, list)
    assert keys[0] == keys[1] != keys[2]


def test_the_fault_run_keeps_its_own_marker_when_integration_is_narrowed() -> None:
    kept = in_noxfile(
        "arguments.without_marker_expression("
        "['--db-pg', '18', '-m', 'integration and not docker', '-mslow', '--maxfail=1'])",
        {},
    )
    assert kept == ["--db-pg", "18", "--maxfail=1"]


def test_the_pythons_are_pyproject_classifiers() -> None:
    """The supported Pythons are said once, in pyproject.toml; nox reads them there."""
    project = nox.project.load_toml(ROOT / "pyproject.toml")["project"]
    stated = [
        c.rsplit(" ", 1)[-1]
        for c in project["classifiers"]
        if c.startswith("Programming Language :: Python :: 3.")
    ]
    assert in_noxfile("noxfile.PYTHONS", {}) == stated
    assert project["requires-python"] == f">={stated[0]}"


def test_the_lock_covers_every_requirement_of_pyproject() -> None:
    """requirements-lock.txt is current: each dependency, extra and group is pinned in it."""
    lines = (ROOT / "requirements-lock.txt").read_text(encoding="utf-8").splitlines()
    pinned = [line for line in lines if line and not line.startswith("#")]
    assert all("==" in line for line in pinned)
    locked = {re.sub(r"[-_.]+", "-", line.split("==", 1)[0].lower()) for line in pinned}
    pyproject = nox.project.load_toml(ROOT / "pyproject.toml")
    project = pyproject["project"]
    wanted = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        wanted += extra
    for group in pyproject["dependency-groups"].values():
        wanted += [item for item in group if isinstance(item, str)]
    names = {
        re.sub(r"[-_.]+", "-", re.split(r"[\[<>=;~! ]", item, maxsplit=1)[0].lower())
        for item in wanted
    }
    assert names - locked == set()


def test_the_lock_records_no_download_addresses() -> None:
    """The lock pins versions only: no URLs, so it says nothing of where packages come from."""
    text = (ROOT / "requirements-lock.txt").read_text(encoding="utf-8")
    assert "://" not in text
    assert not any(line.startswith(("-", "--")) for line in text.splitlines())
