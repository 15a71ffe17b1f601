"""Branch databases never lose work: what ``branch prune`` drops is decided from git's live
state and the server's sessions, never from a label the tool wrote itself.

Each test reproduces a way a branch database of live work was dropped: a
detached worktree's database after a ``snapshot restore``, a branch whose only
copy of a migration is its database, a database in use, and CONTRIBUTING's
switching-branches flow typed as written. Real git, a real embedded server.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from sqlalchemy import text

from bot_persistence.devdb import branches
from bot_persistence.settings import Settings
from tests.helpers import bot_db, engine_for
from tests.integration.test_branch_databases import (
    _MIGRATION,
    HEAD,
    REVISION_A,
    REVISION_B,
    add_migration,
    databases,
    git,
    query,
    repo,
    server,
)

__all__ = ["repo", "server"]  # the fixtures, shared with the branch-database tests


def states(settings: Settings) -> dict[str, dict[str, object]]:
    code, out, err = bot_db(settings, "branch", "list", "--json")
    assert code == 0, err
    return {entry["database"]: entry for entry in json.loads(out)["branches"]}


def drop(settings: Settings, database: str) -> None:
    admin = settings.model_copy(update={"postgres_db": "postgres"})
    with engine_for(admin, isolation_level="AUTOCOMMIT") as engine, engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{database}" WITH (FORCE)'))


def write_untracked_migration(repo: Path, revision: str, table: str) -> Path:
    """A migration file as `bot-db revision` leaves it: written, not added to git."""
    path = repo / "alembic" / "versions" / f"20261205_{revision}_{table}.py"
    path.write_text(
        _MIGRATION.format(message=f"add {table}", revision=revision, parent=HEAD, table=table)
    )
    return path


def test_a_detached_worktrees_database_survives_restore_and_prune(
    server: Settings, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bot_db(server, "up")[0] == 0
    tree = repo.parent / "bisecting"
    git(repo, "worktree", "add", "-q", "--detach", str(tree), "HEAD")
    commit = git(tree, "rev-parse", "HEAD")
    detached = branches.database_name("bot", None, commit)
    monkeypatch.chdir(tree)
    assert bot_db(server, "up")[0] == 0
    query(server, detached, "INSERT INTO users (id, username) VALUES (7001, 'only-here')")
    assert bot_db(server, "snapshot", "save", "s1")[0] == 0
    code, _, err = bot_db(server, "snapshot", "restore", "s1", "--yes")
    assert code == 0, err

    monkeypatch.chdir(repo)
    entry = states(server)[detached]
    assert entry["branch"] == f"detached at {commit[:7]}", entry
    assert entry["state"] != "detached"
    code, out, err = bot_db(server, "branch", "prune", "--yes")
    assert code == 0, err
    assert detached in databases(server), out
    assert query(server, detached, "SELECT username FROM users WHERE id = 7001") == "only-here"


def test_reset_keeps_what_identifies_a_detached_database(
    server: Settings, repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bot_db(server, "up")[0] == 0
    tree = repo.parent / "tagged"
    git(repo, "worktree", "add", "-q", "--detach", str(tree), "HEAD")
    commit = git(tree, "rev-parse", "HEAD")
    detached = branches.database_name("bot", None, commit)
    monkeypatch.chdir(tree)
    assert bot_db(server, "up")[0] == 0
    code, _, err = bot_db(server, "reset", "--yes")
    assert code == 0, err
    monkeypatch.chdir(repo)
    assert states(server)[detached]["branch"] == f"detached at {commit[:7]}"


def test_a_branch_whose_only_copy_of_a_migration_is_its_database_is_kept(
    server: Settings, repo: Path
) -> None:
    assert bot_db(server, "up")[0] == 0
    git(repo, "switch", "-q", "-c", "feature-wip")  # no commits of its own: "merged"
    feature = branches.database_name("bot", "feature-wip")
    assert bot_db(server, "up")[0] == 0
    migration = write_untracked_migration(repo, REVISION_A, "descriptions")
    assert bot_db(server, "migrate")[0] == 0
    query(server, feature, "INSERT INTO descriptions VALUES (1, 'work in progress')")
    git(repo, "switch", "-q", "main")
    migration.unlink()  # gone from the disk too: the database is the only copy

    code, out, err = bot_db(server, "branch", "prune", "--yes")
    assert code == 0, err
    assert feature in databases(server), out
    assert query(server, feature, "SELECT body FROM descriptions") == "work in progress"
    drop(server, feature)  # the module's server goes on to the other tests


def test_a_database_in_use_is_not_pruned(server: Settings, repo: Path) -> None:
    assert bot_db(server, "up")[0] == 0
    git(repo, "switch", "-q", "-c", "merged-and-open")
    database = branches.database_name("bot", "merged-and-open")
    assert bot_db(server, "up")[0] == 0
    git(repo, "switch", "-q", "main")
    with (
        engine_for(server.model_copy(update={"postgres_db": database})) as engine,
        engine.connect(),
    ):
        code, out, err = bot_db(server, "branch", "prune", "--yes")
        assert code == 0, err
        assert database in databases(server)
        assert "session(s) connected" in out
    code, out, err = bot_db(server, "branch", "prune", "--yes")
    assert code == 0, err
    assert database not in databases(server)


def test_prune_says_what_it_drops_and_why_and_takes_the_snapshots_along(
    server: Settings, repo: Path
) -> None:
    assert bot_db(server, "up")[0] == 0
    git(repo, "switch", "-q", "-c", "short-lived")
    add_migration(repo, REVISION_A, "short_notes")
    database = branches.database_name("bot", "short-lived")
    assert bot_db(server, "up")[0] == 0
    assert bot_db(server, "snapshot", "save", "keep-me")[0] == 0
    git(repo, "switch", "-q", "main")
    git(repo, "branch", "-q", "-D", "short-lived")

    code, out, err = bot_db(server, "branch", "prune")  # no terminal, no --yes: refuses
    assert code == 2 and "--yes" in err
    assert f"{database}" in out and "'short-lived' was deleted" in out
    assert "snapshot keep-me" in out
    assert database in databases(server)
    code, out, err = bot_db(server, "branch", "prune", "--yes")
    assert code == 0, err
    left = databases(server)
    assert database not in left
    assert not any(name.startswith(f"{database}__snap_") for name in left), left


def test_up_warns_in_one_line_before_applying_a_migration_git_does_not_track(
    server: Settings, repo: Path
) -> None:
    assert bot_db(server, "up")[0] == 0
    git(repo, "switch", "-q", "-c", "drafting")
    assert bot_db(server, "up")[0] == 0
    migration = write_untracked_migration(repo, REVISION_B, "drafts")
    code, _, err = bot_db(server, "up")
    assert code == 0, err
    warned = [line for line in err.splitlines() if "not tracked by git" in line]
    assert len(warned) == 1, err
    assert migration.name in warned[0] and REVISION_B in warned[0]
    code, _, err = bot_db(server, "up")  # at head now: nothing to apply, nothing to say
    assert code == 0 and "not tracked" not in err
    migration.unlink()
    drop(server, branches.database_name("bot", "drafting"))


def _transcript() -> list[str]:
    """The commands of CONTRIBUTING.md's "Switching branches" block, comments dropped."""
    text = (Path(__file__).parents[2] / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text.split("## Switching branches", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    lines = [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def test_contributings_switching_flow_typed_as_written_leaves_mains_database_as_it_was(
    server: Settings, repo: Path
) -> None:
    assert bot_db(server, "up")[0] == 0
    before = {
        "revision": query(server, "bot", "SELECT version_num FROM alembic_version"),
        "tables": query(
            server, "bot", "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
            "WHERE schemaname = 'public'"
        ),
    }  # fmt: skip
    for line in _transcript():
        for command in line.split(" && "):
            words = shlex.split(command)
            if words[0] == "git":
                git(repo, *words[1:])
            else:
                assert words[0] == "bot-db", command
                code, out, err = bot_db(server, *words[1:])
                assert code == 0, f"{command}: {out}{err}"
    after = {
        "revision": query(server, "bot", "SELECT version_num FROM alembic_version"),
        "tables": query(
            server, "bot", "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
            "WHERE schemaname = 'public'"
        ),
    }  # fmt: skip
    assert after == before
    feature = branches.database_name("bot", "feature-x")
    git(repo, "switch", "-q", "main")
    code, out, err = bot_db(server, "branch", "prune", "--yes")
    assert code == 0, err
    assert feature in databases(server)
