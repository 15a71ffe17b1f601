"""Adoption of the onboarding checklist, measured: ``nox -s adoption``.

The goal the project set itself: at least 80 % of the contributors active in a
sprint have completed the onboarding checklist. Two halves:

- ``nox -s onboarding``, when every step passed, writes
  ``.onboarding/<you>.json``: the contributor's git identity (``user.name``,
  ``user.email``), the day, and how long it took. Nothing else: no paths, no
  host name, no settings, no URL. The contributor commits it with their first
  change (the pull request template asks for it).
- ``nox -s adoption`` (``python -m bot_persistence.devtools.adoption``) reads
  the authors of the last N days of git history (mailmap applied) and the
  records in ``.onboarding/``, and prints how many of those contributors have
  one, against the goal; ``--json`` prints the same as one document and
  ``--check`` exits 1 under the goal.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from bot_persistence.cli.output import Console

__all__ = [
    "GOAL",
    "RECORDS",
    "Adoption",
    "Identity",
    "active_contributors",
    "git_identity",
    "main",
    "measure",
    "recorded_emails",
    "write_record",
]

#: The share of active contributors who should have completed onboarding.
GOAL = 0.8
#: Where the committed records live, one file per contributor.
RECORDS = Path(".onboarding")
#: A sprint: the default window of "active".
DEFAULT_DAYS = 14


@dataclasses.dataclass(frozen=True)
class Identity:
    """A contributor as git knows them; the email is what records are matched by."""

    name: str
    email: str

    @property
    def key(self) -> str:
        return self.email.strip().lower()

    @property
    def file_name(self) -> str:
        """``alice-example-org.json``: the email made safe for a file name."""
        return re.sub(r"[^a-z0-9]+", "-", self.key).strip("-") + ".json"


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_identity(root: Path) -> Identity | None:
    """``user.name`` and ``user.email`` of the checkout at ``root``; None when either is unset."""
    name = (_git(root, "config", "user.name") or "").strip()
    email = (_git(root, "config", "user.email") or "").strip()
    return Identity(name, email) if name and email else None


def write_record(root: Path, identity: Identity, *, total_seconds: float, finished_at: str) -> Path:
    """Write ``.onboarding/<identity>.json`` for a passed checklist; its path."""
    path = root / RECORDS / identity.file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "name": identity.name,
        "email": identity.email,
        "completed": finished_at[:10],
        "total_seconds": round(total_seconds, 1),
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def active_contributors(
    root: Path, days: int, *, until: dt.datetime | None = None
) -> list[Identity]:
    """Authors of commits in the ``days`` before ``until`` (now): one per email, mailmap applied.

    Merge commits count too: landing someone's work is activity.
    """
    until = until or dt.datetime.now(dt.timezone.utc)
    since = until - dt.timedelta(days=days)
    log = _git(
        root,
        "log",
        f"--since={since.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S +0000}",
        f"--until={until.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S +0000}",
        "--format=%aN%x00%aE",
    )
    seen: dict[str, Identity] = {}
    for line in (log or "").splitlines():
        name, _, email = line.partition("\0")
        identity = Identity(name.strip(), email.strip())
        if identity.key and identity.key not in seen:
            seen[identity.key] = identity
    return sorted(seen.values(), key=lambda identity: identity.key)


def recorded_emails(root: Path) -> set[str]:
    """The emails of every readable record in ``.onboarding/`` (a damaged one counts as none)."""
    emails: set[str] = set()
    for path in sorted((root / RECORDS).glob("*.json")):
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(loaded, dict) and isinstance(loaded.get("email"), str):
            emails.add(loaded["email"].strip().lower())
    return emails


@dataclasses.dataclass(frozen=True)
class Adoption:
    """Who was active, who of them has a record, and how that compares with the goal."""

    days: int
    active: tuple[Identity, ...]
    onboarded: tuple[Identity, ...]

    @property
    def share(self) -> float:
        """The onboarded share of the active contributors (1.0 when nobody was active)."""
        return len(self.onboarded) / len(self.active) if self.active else 1.0

    @property
    def meets_goal(self) -> bool:
        return self.share >= GOAL

    @property
    def missing(self) -> tuple[Identity, ...]:
        done = {identity.key for identity in self.onboarded}
        return tuple(identity for identity in self.active if identity.key not in done)

    def as_dict(self) -> dict[str, object]:
        return {
            "days": self.days,
            "active": len(self.active),
            "onboarded": len(self.onboarded),
            "share": round(self.share, 3),
            "goal": GOAL,
            "meets_goal": self.meets_goal,
            "missing": [identity.name for identity in self.missing],
        }


def measure(root: Path, days: int, *, until: dt.datetime | None = None) -> Adoption:
    """The adoption over the last ``days`` of the checkout at ``root``."""
    active = active_contributors(root, days, until=until)
    recorded = recorded_emails(root)
    onboarded = tuple(identity for identity in active if identity.key in recorded)
    return Adoption(days, tuple(active), onboarded)


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    """Print the adoption (or ``--json``); exit 1 under the goal only with ``--check``."""
    parser = argparse.ArgumentParser(
        prog="adoption",
        description="How many contributors active lately completed the onboarding checklist.",
    )
    parser.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help=f"the window (default {DEFAULT_DAYS})"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--check", action="store_true", help="exit 1 when under the goal")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the checkout")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be 1 or more")
    out = Console(stdout)
    adoption = measure(args.root, args.days)
    if args.json:
        out.json(adoption.as_dict())
    else:
        verdict = "meets" if adoption.meets_goal else "under"
        out.line(
            f"{len(adoption.onboarded)} of {len(adoption.active)} contributors active in the "
            f"last {args.days} days completed onboarding ({adoption.share:.0%}; {verdict} the "
            f"{GOAL:.0%} goal)"
        )
        if adoption.missing:
            names = ", ".join(identity.name for identity in adoption.missing)
            out.line(f"no record yet: {names} (`nox -s onboarding`, then commit .onboarding/)")
    return 1 if args.check and not adoption.meets_goal else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
