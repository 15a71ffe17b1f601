"""The git questions the dev database asks, each one ``git`` call with a deadline.

Which branch is checked out, which is the default, where two branches meet,
which branches are merged, and which branch or commit added a migration file.
Every answer is ``None`` (or empty) when git cannot tell: no ``git`` on the
PATH, not a checkout, a repository without commits. Nothing here raises for
those; the callers fall back to one database, as outside git.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

__all__ = [
    "Checkout",
    "RevisionOrigin",
    "branches",
    "checked_out_elsewhere",
    "checkout",
    "default_branch",
    "distance",
    "is_merged",
    "merge_base",
    "revision_origin",
]

#: Seconds one git call may take; a stuck git (a lock, a slow network mount) is not waited on.
_TIMEOUT = 10.0


def _git(root: Path, *args: str) -> str | None:
    """The stripped standard output of ``git -C root ARGS``, ``None`` when it failed."""
    executable = shutil.which("git")
    if executable is None:
        return None
    try:
        done = subprocess.run(
            [executable, "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@dataclasses.dataclass(frozen=True)
class Checkout:
    """Where ``HEAD`` of one working tree is: a branch, or a commit (detached)."""

    root: Path
    commit: str
    branch: str | None

    @property
    def detached(self) -> bool:
        """True when ``HEAD`` names a commit rather than a branch (bisect, a tag, a rebase)."""
        return self.branch is None


def checkout(root: Path) -> Checkout | None:
    """The working tree at ``root``: its branch and commit; ``None`` outside git or before
    the first commit (there is no branch to tell apart yet)."""
    top = _git(root, "rev-parse", "--show-toplevel")
    commit = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if not top or not commit:
        return None
    branch = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    return Checkout(root=Path(top), commit=commit, branch=branch or None)


def default_branch(root: Path) -> str | None:
    """The branch the others grow from: ``origin/HEAD``'s, else ``main``, ``master``, or
    ``init.defaultBranch`` when such a local branch exists."""
    local = branches(root)
    remote_head = _git(root, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    candidates = [remote_head.split("/", 1)[1]] if remote_head and "/" in remote_head else []
    configured = _git(root, "config", "--get", "init.defaultBranch")
    candidates += ["main", "master", *([configured] if configured else [])]
    return next((name for name in candidates if name in local), None)


def branches(root: Path) -> dict[str, str]:
    """The local branches and the commit each points at."""
    listing = _git(root, "for-each-ref", "--format=%(objectname) %(refname:short)", "refs/heads")
    found: dict[str, str] = {}
    for line in (listing or "").splitlines():
        commit, _, name = line.partition(" ")
        if name:
            found[name] = commit
    return found


def checked_out_elsewhere(root: Path) -> set[str]:
    """Branches, and commits at a detached ``HEAD``, checked out in any working tree."""
    listing = _git(root, "worktree", "list", "--porcelain")
    found: set[str] = set()
    for block in (listing or "").split("\n\n"):
        lines = block.splitlines()
        for line in lines:
            if line.startswith("branch refs/heads/"):
                found.add(line.removeprefix("branch refs/heads/"))
            elif line.startswith("HEAD ") and "detached" in lines:
                found.add(line.removeprefix("HEAD "))
    return found


def merge_base(root: Path, one: str, other: str) -> str | None:
    """The best common ancestor of two commits or branches."""
    return _git(root, "merge-base", one, other)


def distance(root: Path, since: str, until: str) -> int | None:
    """How many commits ``until`` has that ``since`` has not."""
    counted = _git(root, "rev-list", "--count", f"{since}..{until}")
    return int(counted) if counted and counted.isdigit() else None


def is_merged(root: Path, branch: str, into: str) -> bool:
    """True when every commit of ``branch`` is in ``into``."""
    return _git(root, "merge-base", "--is-ancestor", branch, into) is not None


@dataclasses.dataclass(frozen=True)
class RevisionOrigin:
    """The commit that added a migration file, and a branch that holds it."""

    commit: str
    subject: str
    branch: str | None

    def describe(self) -> str:
        """``branch 'feature-a', commit 1a2b3c4 "add notes"``, or the commit alone."""
        commit = f'commit {self.commit[:7]} "{self.subject}"'
        return f"branch {self.branch!r}, {commit}" if self.branch else commit


def revision_origin(
    root: Path, revision: str, versions: str = "alembic/versions"
) -> RevisionOrigin | None:
    """Which commit added the migration file of ``revision``, on any branch, and which branch.

    Migration files carry their revision id in the name (``alembic.ini``'s
    ``file_template``); when one was renamed, the text is searched instead: the
    oldest file that mentions the id is the one that defines it (its children,
    which name it as ``down_revision``, come later).
    """
    if not revision.replace("_", "").isalnum():
        return None  # not an id we would put in a pathspec
    log = ("log", "--all", "--diff-filter=A", "--format=%H %s")
    found = _git(root, *log, "--", f"{versions}/*{revision}*.py")
    if not found:
        found = _git(root, *log, f"-S{revision}", "--", versions)
    if not found:
        return None
    commit, _, subject = found.splitlines()[-1].partition(" ")
    holding = _git(root, "branch", "--format=%(refname:short)", "--contains", commit)
    names = (holding or "").splitlines()
    current = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    names = [name for name in names if name != current and not name.startswith("(")]
    return RevisionOrigin(commit=commit, subject=subject, branch=names[0] if names else None)
