"""Onboarding adoption: the committed record holds a git identity only, and the share is counted."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from bot_persistence.devtools import adoption, onboarding
from bot_persistence.devtools.adoption import GOAL, Identity, measure, write_record
from bot_persistence.devtools.onboarding import Step, StepResult


def git(root: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env)


def commit_as(root: Path, name: str, email: str, days_ago: float) -> None:
    when = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days_ago)).isoformat()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
        "GIT_COMMITTER_DATE": when,
    }
    git(root, "commit", "-q", "--allow-empty", "-m", f"work by {name}", env=env)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.name", "Alice Example")
    git(tmp_path, "config", "user.email", "Alice@Example.org")
    return tmp_path


def test_a_record_holds_the_git_identity_and_nothing_else(repo: Path) -> None:
    identity = adoption.git_identity(repo)
    assert identity == Identity("Alice Example", "Alice@Example.org")
    path = write_record(repo, identity, total_seconds=83.27, finished_at="2026-12-05T04:00:00")
    assert path == repo / ".onboarding" / "alice-example-org.json"
    assert json.loads(path.read_text()) == {
        "name": "Alice Example",
        "email": "Alice@Example.org",
        "completed": "2026-12-05",
        "total_seconds": 83.3,
    }


def test_adoption_counts_active_contributors_with_a_record(repo: Path) -> None:
    commit_as(repo, "Carol", "carol@example.org", days_ago=40)  # not active lately
    commit_as(repo, "Bob", "BOB@example.org", days_ago=3)
    commit_as(repo, "Bob", "bob@example.org", days_ago=2)  # the same person
    commit_as(repo, "Alice Example", "alice@example.org", days_ago=1)
    write_record(
        repo, Identity("Alice Example", "Alice@Example.org"), total_seconds=1, finished_at="x"
    )
    write_record(repo, Identity("Carol", "carol@example.org"), total_seconds=1, finished_at="x")
    (repo / ".onboarding" / "broken.json").write_text("{not json")
    found = measure(repo, 14)
    assert [i.key for i in found.active] == ["alice@example.org", "bob@example.org"]
    assert [i.key for i in found.onboarded] == ["alice@example.org"]
    assert found.share == 0.5
    assert not found.meets_goal
    assert [i.name for i in found.missing] == ["Bob"]


@pytest.mark.parametrize(("recorded", "meets"), [(4, True), (3, False)], ids=["80%", "60%"])
def test_the_goal_is_eighty_percent(repo: Path, recorded: int, meets: bool) -> None:
    for n in range(5):
        commit_as(repo, f"P{n}", f"p{n}@example.org", days_ago=1)
    for n in range(recorded):
        write_record(repo, Identity(f"P{n}", f"p{n}@example.org"), total_seconds=1, finished_at="x")
    assert GOAL == 0.8
    assert measure(repo, 14).meets_goal is meets


def test_adoption_json_is_one_document_and_check_fails_under_the_goal(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit_as(repo, "Bob", "bob@example.org", days_ago=1)
    assert adoption.main(["--root", str(repo), "--days", "7", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document == {
        "days": 7,
        "active": 1,
        "onboarded": 0,
        "share": 0.0,
        "goal": 0.8,
        "meets_goal": False,
        "missing": ["Bob"],
    }
    assert adoption.main(["--root", str(repo), "--check"]) == 1
    assert "0 of 1 contributors" in capsys.readouterr().out


def test_a_passed_onboarding_writes_the_record_to_commit(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = [Step("one", lambda: StepResult("ok", ""))]
    code = onboarding.main(["--record", str(repo / "local.json")], root=repo, steps=steps)
    assert code == 0
    assert "commit .onboarding/alice-example-org.json" in capsys.readouterr().out
    assert adoption.recorded_emails(repo) == {"alice@example.org"}


def test_a_failed_onboarding_writes_no_record(repo: Path) -> None:
    steps = [Step("one", lambda: StepResult("fail", "broken"))]
    assert onboarding.main(["--record", str(repo / "l.json")], root=repo, steps=steps) == 1
    assert not (repo / ".onboarding").exists()
