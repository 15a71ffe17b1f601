"""Installing a session's environment from the lock, and only when something changed.

uv.lock (written by `uv lock`) pins every package the project and its
dependency groups can install. A session installs through pip or uv with those
pins as constraints, so a run installs the same versions on every machine and
on every backend (venv + pip needs no uv). The stamp in the environment
records what was installed; a warm `nox -s db` skips the install altogether.
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
LOCK = Path("uv.lock")


def lock_constraints(lock: dict[str, Any]) -> list[str]:
    """One `name==version` line per locked package, with its markers where the lock forks.

    Where the lock holds two versions of a package (one for Python 3.10, one
    for 3.11 and later, say), each line carries its resolution markers. The
    project itself (an editable source) is not pinned.
    """
    lines: list[str] = []
    for package in lock.get("package", []):
        if "registry" not in package.get("source", {}):
            continue
        line = f"{package['name']}=={package['version']}"
        markers = package.get("resolution-markers") or []
        if markers:
            line += " ; " + " or ".join(f"({marker})" for marker in markers)
        lines.append(line)
    return lines


def install_key(args: list[str]) -> str:
    """What an environment's install depends on: pyproject.toml, uv.lock and the arguments."""
    digest = hashlib.sha256(Path("pyproject.toml").read_bytes())
    if LOCK.is_file():
        digest.update(LOCK.read_bytes())
    digest.update("\0".join(args).encode())
    return digest.hexdigest()


def install(session: nox.Session, pyproject: dict[str, Any], *groups: str) -> None:
    """The package with its development extras plus dependency groups, pinned by uv.lock.

    Skipped when the environment already holds them: the stamp records the
    hash of pyproject.toml, uv.lock and what was asked for. When any changed,
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
        session.log("dependencies unchanged since the last install (pyproject.toml, uv.lock)")
        return
    constraints: list[str] = []
    if LOCK.is_file():
        pins = Path(venv.location) / "uv-lock-constraints.txt"
        # nox reads TOML by suffix only (tomllib, or tomli before 3.11): a copy named .toml.
        copy = Path(venv.location) / "uv-lock.toml"
        copy.write_bytes(LOCK.read_bytes())
        lock = nox.project.load_toml(copy)
        pins.write_text("\n".join(lock_constraints(lock)) + "\n", encoding="utf-8")
        constraints = ["--constraint", str(pins)]
    # uv, unlike pip, leaves byte-code to the first import; compiled at install,
    # the first `bot-db` does not pay for it (nor every one, where
    # PYTHONDONTWRITEBYTECODE is set).
    session.install(*constraints, *args, env={"UV_COMPILE_BYTECODE": "1"})
    stamp.write_text(wanted, encoding="utf-8")
