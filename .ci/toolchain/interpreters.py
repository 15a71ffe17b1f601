"""Every supported Python found where people keep them, or one loud line per missing one.

nox looks on PATH; pyenv and uv keep Pythons elsewhere. Their folders are
appended to PATH (an interpreter already on PATH still wins), and nothing is
downloaded behind a contributor's back. A session nox skips (or, in CI, fails)
for want of an interpreter is named again at exit, with how to install it.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
from pathlib import Path


def interpreter_dirs(minor: str) -> list[Path]:
    """bin folders holding `python<minor>` in pyenv's and uv's Pythons, newest first."""
    home = Path.home()
    roots = [
        Path(os.environ.get("PYENV_ROOT") or home / ".pyenv") / "versions",
        Path(
            os.environ.get("UV_PYTHON_INSTALL_DIR")
            or Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share") / "uv" / "python"
        ),
    ]
    # pyenv: 3.12.1; uv: cpython-3.12.8-linux-x86_64-gnu (free-threaded builds excluded).
    name = re.compile(rf"^(?:cpython-)?{re.escape(minor)}\.(\d+)(?:-[^+]*)?$")
    found: list[tuple[int, Path]] = []
    for root in roots:
        if not root.is_dir():
            continue
        for entry in root.iterdir():
            match = name.match(entry.name)
            if match and (entry / "bin" / f"python{minor}").is_file():
                found.append((int(match.group(1)), entry / "bin"))
    return [path for _, path in sorted(found, key=lambda item: item[0], reverse=True)]


def add_to_path(pythons: list[str]) -> None:
    """Append the pyenv and uv folders of these Pythons to PATH, nothing exported."""
    path = os.environ.get("PATH", "").split(os.pathsep)
    extra = [
        str(folder)
        for minor in pythons
        for folder in interpreter_dirs(minor)
        if str(folder) not in path
    ]
    if extra:
        os.environ["PATH"] = os.pathsep.join([*path, *extra])


class MissingInterpreters(logging.Handler):
    """Collects the sessions nox skipped (or, in CI, failed) for want of an interpreter."""

    PATTERN = re.compile(r"Session (\S+) \w+: Python interpreter (\S+?) not found")

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.missing: dict[str, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        match = self.PATTERN.search(record.getMessage())
        if match:
            sessions = self.missing.setdefault(match.group(2), [])
            if match.group(1) not in sessions:
                sessions.append(match.group(1))

    def summary(self) -> None:
        """One closing line per missing Python: which sessions, and how to get it."""
        logger = logging.getLogger("nox")
        say = logger.error if os.environ.get("CI") else logger.warning
        for version, sessions in self.missing.items():
            say(
                f"Python {version} not found, so {', '.join(sessions)} did not run: install it "
                f"with `uv python install {version}` or `pyenv install {version}` "
                "(nox looks on PATH, in pyenv's versions and in uv's Pythons)"
            )


def _quiet_uv_probe(record: logging.LogRecord) -> bool:
    """Drop nox's "uv binary not found." line: without uv, venv + pip is the plan."""
    return record.getMessage() != "uv binary not found."


def find_and_report(pythons: list[str]) -> None:
    """Put pyenv's and uv's Pythons on PATH; name the missing ones when nox exits."""
    add_to_path(pythons)
    missing = MissingInterpreters()
    logger = logging.getLogger("nox")
    logger.addHandler(missing)
    logger.addFilter(_quiet_uv_probe)
    atexit.register(missing.summary)
