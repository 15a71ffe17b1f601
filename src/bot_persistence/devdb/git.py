"""The git questions the dev database asks, each one ``git`` call with a deadline.

Which branch is checked out, which is the default, where two branches meet,
which branches are merged, and which branch or commit added a migration file.
Every answer is ``None`` (or empty) when git cannot tell: no ``git`` on the
PATH, not a checkout, a repository without commits. Nothing here raises for
those; the callers fall back to one database, as outside git.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

from bot_persistence.errors import SchemaAheadOfCodeError
from bot_persistence.schema_version import with_origin

__all__ = [
    "Checkout",
    "RevisionOrigin",
    "ahead_behind",
    "branches",
    "checked_out_elsewhere",
    "checkout",
    "default_branch",
    "explain_ahead",
    "files_at",
    "is_merged",
    "revision_origin",
    "untracked",
    "worktree_heads",
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
            # Git's answers are bytes: a branch or file name need not be UTF-8.
            # Undecodable bytes become lone surrogates, so the name round-trips
            # back to git unchanged; output shows them escaped (see ``shown``).
            encoding="utf-8",
            errors="surrogateescape",
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    # Lines end at "\n" alone: str.splitlines() and strip() would also break a branch name
    # at U+0085, U+2028 or a form feed, all legal in a git ref.
    return done.stdout.rstrip("\n") if done.returncode == 0 else None


def _lines(output: str | None) -> list[str]:
    """Git's output split at newlines only (a ref may hold any other line break)."""
    return output.split("\n") if output else []


@dataclasses.dataclass(frozen=True)
class Checkout:
    """Where ``HEAD`` of one working tree is: a branch, or a commit (detached)."""

    root: Path
    commit: str
    branch: str | None


def checkout(root: Path) -> Checkout | None:
    """The working tree at ``root``: its branch and commit; ``None`` outside git or before
    the first commit (there is no branch to tell apart yet)."""
    # One call: the top folder, HEAD's commit, and the ref HEAD names ("HEAD" if detached).
    answer = _git(root, "rev-parse", "--show-toplevel", "HEAD", "--symbolic-full-name", "HEAD")
    lines = _lines(answer)
    if len(lines) != 3 or len(lines[1]) < 40:
        return None
    top, commit, ref = lines
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    return Checkout(root=Path(top), commit=commit, branch=branch)


def default_branch(root: Path) -> str | None:
    """The branch the others grow from: ``origin/HEAD``'s, else ``main``, ``master``, or
    ``init.defaultBranch`` when such a local branch exists."""
    listing = _git(
        root,
        "for-each-ref",
        "--format=%(refname) %(symref)",
        "refs/heads",
        "refs/remotes/origin/HEAD",
    )
    local: set[str] = set()
    candidates: list[str] = []
    for line in _lines(listing):
        ref, _, points_at = line.partition(" ")
        if ref.startswith("refs/heads/"):
            local.add(ref.removeprefix("refs/heads/"))
        elif points_at.startswith("refs/remotes/origin/"):
            candidates.append(points_at.removeprefix("refs/remotes/origin/"))
    found = next((name for name in [*candidates, "main", "master"] if name in local), None)
    if found is None:  # rarely: ask git's configuration, one more call
        configured = _git(root, "config", "--get", "init.defaultBranch")
        found = configured if configured in local else None
    return found


def branches(root: Path) -> dict[str, str]:
    """The local branches and the commit each points at."""
    listing = _git(root, "for-each-ref", "--format=%(objectname) %(refname:short)", "refs/heads")
    found: dict[str, str] = {}
    for line in _lines(listing):
        commit, _, name = line.partition(" ")
        if name:
            found[name] = commit
    return found


def worktree_heads(root: Path) -> list[Checkout]:
    """Every working tree's ``HEAD`` (this one's too): its branch, or its commit when
    detached. A tree whose folder is gone counts until ``git worktree prune`` forgets it:
    its ``HEAD`` is still git's record of work in progress."""
    # -z: a record per NUL, a blank record between trees; a path may hold a newline.
    listing = _git(root, "worktree", "list", "--porcelain", "-z")
    found: list[Checkout] = []
    for block in (listing or "").split("\0\0"):
        fields = dict(field.partition(" ")[::2] for field in block.split("\0") if field)
        commit = fields.get("HEAD", "")
        if "bare" in fields or not re.fullmatch("[0-9a-f]{40,64}", commit):
            continue  # a bare repository, or a tree before its first commit
        ref = fields.get("branch", "")
        branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
        found.append(Checkout(root=Path(fields.get("worktree", "")), commit=commit, branch=branch))
    return found


def checked_out_elsewhere(root: Path) -> set[str]:
    """Branches, and commits at a detached ``HEAD``, checked out in any working tree."""
    return {
        head.branch if head.branch is not None else head.commit for head in worktree_heads(root)
    }


def untracked(root: Path, folder: Path) -> list[Path]:
    """The files under ``folder`` that git does not track (nor ignore): a migration written
    and not yet added, which follows ``git switch`` to every branch."""
    listing = _git(root, "ls-files", "-z", "--others", "--exclude-standard", "--", str(folder))
    return [root / name for name in (listing or "").split("\0") if name]


def ahead_behind(root: Path, one: str, other: str) -> tuple[int, int] | None:
    """Commits ``one`` and ``other`` each have since their merge-base (for two unrelated
    histories: all of their commits, which ranks them last)."""
    counted = (_git(root, "rev-list", "--left-right", "--count", f"{one}...{other}") or "").split()
    if len(counted) != 2 or not all(re.fullmatch("[0-9]+", part) for part in counted):
        return None
    return int(counted[0]), int(counted[1])


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
    if not re.fullmatch("[0-9A-Za-z_]+", revision):
        return None  # not an id we would put in a pathspec
    # --reflog: a deleted branch's commits are still in the repository (HEAD's reflog)
    # until git collects them; a migration only ever in a working tree is in none.
    log = ("log", "--all", "--reflog", "--diff-filter=A", "--format=%H %s")
    found = _git(root, *log, "--", f"{versions}/*{revision}*.py")
    if not found:
        found = _git(root, *log, f"-S{revision}", "--", versions)
    if not found:
        return None
    commit, _, subject = _lines(found)[-1].partition(" ")
    holding = _git(root, "branch", "--format=%(refname:short)", "--contains", commit)
    names = _lines(holding)
    current = _git(root, "symbolic-ref", "--quiet", "--short", "HEAD")
    names = [name for name in names if name != current and not name.startswith("(")]
    return RevisionOrigin(commit=commit, subject=subject, branch=names[0] if names else None)


def explain_ahead(error: SchemaAheadOfCodeError) -> SchemaAheadOfCodeError:
    """``error`` again, naming the branch or commit that added its revision, as git tells.

    The bot's process never asks git (``schema_version`` knows nothing of it);
    the command line does, for a database ahead of this checkout's code.
    """
    if error.checkout is None or not error.revision:
        return error  # production, or not from a checkout: nothing to ask
    found = revision_origin(error.checkout, error.revision)
    return with_origin(error, found.describe() if found else "")


def files_at(root: Path, ref: str, folder: str) -> dict[str, str] | None:
    """The text of every file directly in ``folder`` at commit ``ref``; None when git cannot say.

    What another branch holds, read without checking it out (``bot-db rehearse
    --from-git main`` reads main's revisions this way).
    """
    listing = _git(root, "ls-tree", "--name-only", f"{ref}:{folder}")
    if listing is None:
        return None
    found: dict[str, str] = {}
    for name in _lines(listing):
        text = _git(root, "show", f"{ref}:{folder}/{name}")
        if text is not None:
            found[name] = text
    return found
