"""Running the docs' blocks as a reader would: in a fresh copy of the checkout, one per page.

The copy holds what a clone of this working tree would (tracked and new files,
nothing git ignores: no ``.env``, no ``.devdb``, no ``.venv``), committed on a
``main`` branch, so a block that switches branches or reads the project's
files sees what a new contributor sees. The blocks of one page run in order
in one copy (a later block may build on an earlier one), each in ``bash -e``
or Python, with this environment's ``bot-db`` and ``python`` first on PATH,
the dev server on a port of its own and nothing of the caller's database
settings. What a block must do is its marker's (exit code, lines it prints;
see :mod:`.blocks`). A dev server a page started is stopped with the page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from bot_persistence.devtools.docs_check.blocks import Block, read_page
from bot_persistence.devtools.docs_check.problem import Problem
from bot_persistence.provision.base import free_port

__all__ = ["Transcript", "checkout_copy", "reader_env", "run", "run_page"]

#: Settings of the caller's own database that a reader's fresh clone would not have.
_CALLERS = ("DATABASE_URL", "POSTGRES_", "BOT_DB_", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER")
BLOCK_TIMEOUT = 300.0


@dataclasses.dataclass(frozen=True)
class Transcript:
    """What one command did: its exit code and everything it printed (stdout then stderr)."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def tail(self, lines: int = 6) -> str:
        return " | ".join(self.output.strip().splitlines()[-lines:])


def _files(root: Path) -> list[str]:
    """What a clone of ``root``'s working tree holds: tracked and untracked, not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        check=True,
    )
    return [name for name in listed.stdout.decode().split("\0") if name]


@contextlib.contextmanager
def checkout_copy(root: Path) -> Iterator[Path]:
    """A temporary clone of ``root``'s working tree on branch ``main``; deleted on exit."""
    base = Path(tempfile.mkdtemp(prefix="bp-docs-"))
    copy = base / "bot-persistence"
    try:
        for name in _files(root):
            source = root / name
            if not source.is_file():
                continue  # deleted in the working tree, not yet in the index
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
            subprocess.run(
                ["git", "-c", "user.name=docs", "-c", "user.email=docs@localhost", *args],
                cwd=copy,
                capture_output=True,
                check=True,
            )
        yield copy
    finally:
        shutil.rmtree(base, ignore_errors=True)


def reader_env(environ: Mapping[str, str], *, port: int) -> dict[str, str]:
    """``environ`` as a reader's shell would be: no database settings of ours, a port of its own.

    This interpreter's folder goes first on PATH, so ``bot-db``, ``python`` and
    ``pytest`` are the ones installed with this package.
    """
    env = {
        key: value
        for key, value in environ.items()
        if not key.startswith(_CALLERS) and key not in {"NO_COLOR", "FORCE_COLOR"}
    }
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environ.get("PATH", "")])
    env["POSTGRES_PORT"] = str(port)
    env["NO_COLOR"] = "1"
    return env


def run(
    command: list[str], cwd: Path, env: Mapping[str, str], *, timeout: float = BLOCK_TIMEOUT
) -> Transcript:
    """Run ``command``; a timeout is exit code 124 with what it printed so far (as timeout(1))."""
    try:
        done = subprocess.run(
            command, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as expired:
        out = expired.stdout.decode() if isinstance(expired.stdout, bytes) else ""
        return Transcript(124, out, f"timed out after {timeout:.0f} s")
    return Transcript(done.returncode, done.stdout, done.stderr)


def _command(block: Block) -> list[str]:
    if block.language == "python":
        return [sys.executable, "-c", block.source]
    return ["bash", "-e", "-o", "pipefail", "-c", block.source]


def _judge(block: Block, done: Transcript) -> str | None:
    """What is wrong with how ``block`` ran, or None."""
    if done.exit_code != block.exit_code:
        return (
            f"this {block.language} block exited {done.exit_code}, not {block.exit_code}: "
            f"{done.tail()}"
        )
    missing = [text for text in block.prints if text not in done.output]
    if missing:
        return f"this {block.language} block did not print {missing[0]!r}: {done.tail()}"
    return None


def run_page(
    path: Path,
    root: Path,
    *,
    shown_as: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Run the runnable blocks of the page at ``path`` in a copy of ``root``; their failures."""
    label = shown_as or path
    page = read_page(path, root)
    if not page.runnable:
        return []
    problems: list[Problem] = []
    with checkout_copy(root) as copy:
        env = reader_env(os.environ if environ is None else environ, port=free_port())
        try:
            for command in page.setup:
                done = run(["bash", "-e", "-c", command], copy, env)
                if done.exit_code != 0:
                    message = f"setup `{command}` exited {done.exit_code}: {done.tail()}"
                    return [Problem(label, 1, message)]
            for block in page.runnable:
                problem = _judge(block, run(_command(block), copy, env))
                if problem is not None:
                    problems.append(Problem(label, block.line, problem))
        finally:
            if (copy / ".devdb").exists():
                run(["bot-db", "down"], copy, env, timeout=60)
    return problems
