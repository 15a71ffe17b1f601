"""What ``bot-db branch prune`` may drop: decided from git's live state and who is connected.

Never from a label the tool wrote itself. A branch database's comment (whose
it is, at which commit) is lost by ``snapshot restore`` or a ``reset`` of
another version, and a label that can be lost cannot decide what is dropped.
So every database is kept while any of these holds, each asked afresh:

- a working tree's ``HEAD`` maps to it: its branch's database, or the
  database of the commit a detached ``HEAD`` is at (every ``git worktree``,
  this one included, and one whose folder is gone until ``git worktree prune``);
- it holds a revision no commit in the repository has: a migration file
  that was never committed (it follows ``git switch`` and leaves no trace in
  git), whose only copy of the schema and rows is that database;
- a session is connected to it: the bot, an editor, a test run.

What is left is dropped only when its branch is gone (deleted), merged into
the default branch, or a detached commit no tree is at; each comes with the
reason, which ``branch prune`` prints before it asks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from bot_persistence.devdb import git
from bot_persistence.devdb.branches import BranchTarget, database_name

__all__ = ["Listed", "Verdict", "decide", "live_databases"]


@dataclasses.dataclass(frozen=True)
class Listed:
    """What ``branch list`` knows of one branch database (its name, label, state, revision)."""

    database: str
    branch: str
    state: str
    revision: str | None


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether ``prune`` drops ``database``, and why, in a few words."""

    database: str
    drop: bool
    why: str


def live_databases(target: BranchTarget) -> dict[str, str]:
    """Each database some working tree's ``HEAD`` maps to, with that tree: from git alone."""
    found: dict[str, str] = {}
    for head in git.worktree_heads(target.root):
        if head.branch is not None:
            database = target.database_of(head.branch)
            where = f"{head.branch!r} is checked out in {head.root}"
        else:
            database = database_name(target.base.database, None, head.commit)
            where = f"{head.root} is at commit {head.commit[:7]} (detached)"
        found.setdefault(database, where)
    return found


_DROPPED_WHY = {
    "gone": "its branch {branch!r} was deleted",
    "merged": "{branch!r} is merged into {default!r} and checked out nowhere",
    "detached": "{branch}, which no working tree is at",
}


def decide(
    target: BranchTarget, entries: Sequence[Listed], sessions: Mapping[str, int]
) -> list[Verdict]:
    """A verdict for every entry: kept (and why) or dropped (and why), in their order.

    ``sessions`` counts the other sessions connected to each database now.
    """
    live = live_databases(target)
    held: dict[str, bool] = {}
    verdicts = []
    for entry in entries:
        if entry.database == target.base.database:
            verdicts.append(Verdict(entry.database, False, "the configured database"))
            continue
        if entry.database in live:
            verdicts.append(Verdict(entry.database, False, live[entry.database]))
            continue
        connected = sessions.get(entry.database, 0)
        if connected:
            why = f"{connected} session(s) connected to it"
            verdicts.append(Verdict(entry.database, False, why))
            continue
        if entry.revision is not None:
            if entry.revision not in held:
                found = git.revision_origin(target.root, entry.revision)
                held[entry.revision] = found is not None
            if not held[entry.revision]:
                why = (
                    f"it holds revision {entry.revision}, which no commit has (a migration "
                    "never committed): commit its file, or `bot-db snapshot save` it"
                )
                verdicts.append(Verdict(entry.database, False, why))
                continue
        template = _DROPPED_WHY.get(entry.state)
        if template is None:
            verdicts.append(
                Verdict(entry.database, False, f"{entry.branch!r} has commits of its own")
            )
            continue
        why = template.format(branch=entry.branch, default=target.default or "the default branch")
        verdicts.append(Verdict(entry.database, True, why))
    return verdicts
