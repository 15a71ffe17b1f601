"""Installing a session's environment from the lock, and only when something changed.

requirements-lock.txt pins every package the project, its extras and its
dependency groups can install, for every supported Python (`nox -s lock`
writes it with `uv pip compile --universal`, keeping the pins that still fit).
It is plain `name==version ; marker` lines: the versions are the lock, and
the file records no download addresses, so it says nothing about where a
machine's packages come from. A session installs through pip or uv with it as
constraints, so a run installs the same versions on every machine and on
every backend (venv + pip needs no uv). The stamp in the environment records
what was installed; a warm `nox -s db` skips the install altogether.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import nox
import nox.project
import nox.virtualenv

#: The package, editable (so alembic/ and seeds/ are found), with the extras a contributor uses.
DEV_INSTALL = ["-e", ".[embedded,docker,docs,completion]"]
#: Written into a session's environment after an install: what was installed.
INSTALL_STAMP = ".bot-persistence-install"
LOCK = Path("requirements-lock.txt")
#: The dependency groups the lock covers (every group of pyproject.toml).
LOCKED_GROUPS = ("test", "lint", "bench", "migrations")


def lock_command(output: Path = LOCK) -> list[str]:
    """`uv pip compile` writing the lock for every supported Python, from the oldest up.

    uv reads the file it writes as preferences, so running it again after a
    dependency change moves only what the change needs.
    """
    groups = [arg for group in LOCKED_GROUPS for arg in ("--group", group)]
    return [
        "uv", "pip", "compile", "pyproject.toml", "--universal", "--all-extras", *groups,
        "--python-version", "3.10", "--no-header", "--no-annotate", "--quiet",
        "--output-file", str(output),
    ]  # fmt: skip


def install_key(args: list[str]) -> str:
    """What an environment's install depends on: pyproject.toml, the lock and the arguments."""
    digest = hashlib.sha256(Path("pyproject.toml").read_bytes())
    if LOCK.is_file():
        digest.update(LOCK.read_bytes())
    digest.update("\0".join(args).encode())
    return digest.hexdigest()


def install(session: nox.Session, pyproject: dict[str, Any], *groups: str) -> None:
    """The package with its development extras plus dependency groups, pinned by the lock.

    Skipped when the environment already holds them: the stamp records the
    hash of pyproject.toml, the lock and what was asked for. When any changed,
    the install runs again and pip or uv installs only what is different.
    """
    requirements = [
        req for group in groups for req in nox.project.dependency_groups(pyproject, group)
    ]
    args = [*DEV_INSTALL, *requirements]
    venv = session.virtualenv
    if not isinstance(venv, nox.virtualenv.VirtualEnv):  # --no-venv: what is installed
        session.log("no environment of its own (--no-venv): using what is installed")
        return
    stamp = Path(venv.location) / INSTALL_STAMP
    wanted = install_key(args)
    if stamp.is_file() and stamp.read_text(encoding="utf-8") == wanted:
        session.log("dependencies unchanged since the last install (pyproject.toml, the lock)")
        return
    constraints = ["--constraint", str(LOCK)] if LOCK.is_file() else []
    # uv, unlike pip, leaves byte-code to the first import; compiled at install,
    # the first `bot-db` does not pay for it (nor every one, where
    # PYTHONDONTWRITEBYTECODE is set).
    session.install(*constraints, *args, env={"UV_COMPILE_BYTECODE": "1"})
    stamp.write_text(wanted, encoding="utf-8")
