"""One dev database per git branch, for real: a temporary repository, an embedded dev server.

The repository holds a copy of the project's migrations and seeds; branches add
migrations of their own, as a contributor's would. Nothing is mocked: git, the
server, the copies and the migrations are all real.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bot_persistence import Database, SchemaAheadOfCodeError, cli
from bot_persistence.devdb import branches
from bot_persistence.project import project_root, versions_dir
from bot_persistence.provision.base import free_port
from bot_persistence.provision.scratch import scratch_root
from bot_persistence.schema_version import heads_in
from bot_persistence.settings import Settings
from tests.helpers import PASSWORD, bot_db, engine_for, make_settings, scalar

HEAD = heads_in(versions_dir())[0]  # the project's own head, main's in the test repository
REVISION_A = "aaaa00000001"
REVISION_B = "bbbb00000002"

_MIGRATION = '''"""{message}

Revision ID: {revision}
Revises: {parent}
Create Date: 2026-12-01 12:00:00
"""

from alembic import op

revision: str = "{revision}"
down_revision: str | None = "{parent}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE {table} (id integer PRIMARY KEY, body text NOT NULL)")


def downgrade() -> None:
    op.execute("DROP TABLE {table}")
'''


@pytest.fixture(scope="module")
def server() -> Iterator[Settings]:
    """An embedded dev server of the module's own, branch databases on."""
    root = Path(tempfile.mkdtemp(prefix="bp-branches-", dir=scratch_root()))
    settings = make_settings(
        free_port(),
        "bot",
        backend="embedded",
        data_dir=root / "devdb",
        branch_databases=True,
        startup_timeout=60,
    )
    try:
        yield settings
    finally:
        cli.main(["down", "--purge", "--yes"], settings=settings, stdout=io.StringIO())
        shutil.rmtree(root, ignore_errors=True)


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository holding the project's migrations and seeds, on ``main``; cwd."""
    source = project_root()
    target = tmp_path / "bot"
    target.mkdir()
    shutil.copy(source / "alembic.ini", target / "alembic.ini")
    shutil.copytree(
        source / "alembic", target / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(source / "seeds", target / "seeds")
    git(target, "init", "-q", "-b", "main")
    git(target, "config", "user.email", "dev@example.invalid")
    git(target, "config", "user.name", "Dev")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "the bot's schema")
    monkeypatch.chdir(target)
    return target


def add_migration(repo: Path, revision: str, table: str, *, parent: str = HEAD) -> None:
    path = repo / "alembic" / "versions" / f"20261201_{revision}_{table}.py"
    path.write_text(
        _MIGRATION.format(message=f"add {table}", revision=revision, parent=parent, table=table)
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"add {table}")


def query(settings: Settings, database: str, statement: str) -> object:
    """``statement`` on ``database`` of the server ``settings`` name (committed)."""
    return scalar(settings.model_copy(update={"postgres_db": database}), statement)


def databases(settings: Settings) -> set[str]:
    admin = settings.model_copy(update={"postgres_db": "postgres"})
    with engine_for(admin) as engine, engine.connect() as conn:
        return set(conn.execute(text("SELECT datname FROM pg_database")).scalars())


def test_switching_branches_keeps_each_branch_database(server: Settings, repo: Path) -> None:
    code, out, err = bot_db(server, "up")
    assert code == 0, err
    assert "branch    main: its own database bot" in out
    assert query(server, "bot", "SELECT version_num FROM alembic_version") == HEAD

    git(repo, "checkout", "-q", "-b", "feature/a")
    add_migration(repo, REVISION_A, "branch_a_notes")
    name_a = branches.database_name("bot", "feature/a")
    code, out, err = bot_db(server, "up")
    assert code == 0, err
    assert f"new database {name_a}, copied from main's" in out
    assert f"{HEAD} -> {REVISION_A}" in out
    query(server, name_a, "INSERT INTO branch_a_notes VALUES (1, 'kept on A')")
    seeded_users = query(server, "bot", "SELECT count(*) FROM users")
    assert query(server, name_a, "SELECT count(*) FROM users") == seeded_users

    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-q", "-b", "b")
    add_migration(repo, REVISION_B, "branch_b_tags")
    name_b = branches.database_name("bot", "b")
    code, out, err = bot_db(server, "up")
    assert code == 0, err
    assert "copied from main's" in out, out
    assert query(server, name_b, "SELECT to_regclass('branch_a_notes') IS NULL") is True
    assert query(server, name_b, "SELECT version_num FROM alembic_version") == REVISION_B

    git(repo, "checkout", "-q", "feature/a")
    code, out, err = bot_db(server, "up")
    assert code == 0, err
    assert f"its own database {name_a}" in out
    assert query(server, name_a, "SELECT body FROM branch_a_notes") == "kept on A"
    code, out, err = bot_db(server, "check")
    assert (code, err) == (0, ""), err
    assert REVISION_A in out
    code, out, _ = bot_db(server, "url")
    assert out.strip().endswith(f"/{name_a}")

    git(repo, "checkout", "-q", "main")
    for command in ("up", "check", "migrate", "status"):
        code, out, err = bot_db(server, command)
        assert (code, err) == (0, ""), f"{command}: {err}"
    assert "branch databases" in out  # status shows the disk use

    code, out, err = bot_db(server, "branch", "list")
    assert code == 0, err
    assert name_a in out and name_b in out and "feature/a" in out and REVISION_A in out

    git(repo, "branch", "-q", "-D", "feature/a")
    code, out, err = bot_db(server, "branch", "prune")  # no terminal, no --yes: refuses
    assert code == 2 and "--yes" in err
    assert name_a in databases(server)
    code, out, err = bot_db(server, "branch", "prune", "--yes")
    assert code == 0, err
    assert "dropped 1 branch database(s)" in out
    left = databases(server)
    assert name_a not in left and name_b in left and "bot" in left


def test_branch_reset_copies_the_parent_again(server: Settings, repo: Path) -> None:
    assert bot_db(server, "up")[0] == 0
    git(repo, "checkout", "-q", "-b", "scratch-work")
    name = branches.database_name("bot", "scratch-work")
    assert bot_db(server, "up")[0] == 0
    query(server, name, "DELETE FROM playlist_tracks")
    code, out, err = bot_db(server, "branch", "reset", "--yes")
    assert code == 0, err
    assert "copied from main's" in out
    assert query(server, name, "SELECT count(*) FROM playlist_tracks") == query(
        server, "bot", "SELECT count(*) FROM playlist_tracks"
    )
    git(repo, "checkout", "-q", "main")
    code, _, err = bot_db(server, "branch", "reset", "--yes")
    assert code == 2 and "default branch" in err


def test_snapshots_of_a_branch_database_stay_apart_from_branch_databases(
    server: Settings, repo: Path
) -> None:
    git(repo, "checkout", "-q", "-b", "feature/with-a-rather-long-name-for-snapshots")
    name = branches.database_name("bot", "feature/with-a-rather-long-name-for-snapshots")
    assert bot_db(server, "up")[0] == 0
    code, out, err = bot_db(server, "reset", "--yes")  # takes an automatic snapshot first
    assert code == 0, err
    assert "snapshot  pre-reset-" in out
    code, out, err = bot_db(server, "snapshot", "save", "before-the-refactor")
    assert code == 0, err
    code, out, _ = bot_db(server, "snapshot", "list", "--json")
    saved = {snap["name"] for snap in json.loads(out)}
    assert "before-the-refactor" in saved and any(s.startswith("pre-reset-") for s in saved)
    code, out, _ = bot_db(server, "branch", "list", "--json")
    listed = [entry["database"] for entry in json.loads(out)["branches"]]
    assert name in listed and not any("__snap_" in database for database in listed)
    assert json.loads(out)["disk"]["snapshots"] > 0


def test_prune_drops_merged_branches_and_old_detached_commits(server: Settings, repo: Path) -> None:
    assert bot_db(server, "up")[0] == 0
    git(repo, "checkout", "-q", "-b", "merged-one")
    assert bot_db(server, "up")[0] == 0
    git(repo, "checkout", "-q", "--detach")
    code, out, err = bot_db(server, "up")
    assert code == 0, err
    commit = git(repo, "rev-parse", "HEAD")
    detached = branches.database_name("bot", None, commit)
    assert f"detached at {commit[:7]}: new database {detached}" in out

    git(repo, "checkout", "-q", "main")
    code, out, _ = bot_db(server, "branch", "list", "--json")
    states = {entry["database"]: entry["state"] for entry in json.loads(out)["branches"]}
    merged = branches.database_name("bot", "merged-one")
    assert states[merged] == "merged" and states[detached] == "detached"
    assert states["bot"] == "current"
    code, out, err = bot_db(server, "branch", "prune", "--yes")
    assert code == 0, err
    left = databases(server)
    assert merged not in left and detached not in left and "bot" in left
    assert "merged-one" in git(repo, "branch", "--list")  # the git branch itself is kept


def test_without_a_default_branch_the_configured_database_is_the_parent_and_kept(
    server: Settings, repo: Path
) -> None:
    git(repo, "branch", "-q", "-m", "main", "trunk")  # no main, no master, no origin/HEAD
    code, out, err = bot_db(server, "up")
    assert code == 0, err
    assert f"new database {branches.database_name('bot', 'trunk')}, copied from bot's" in out
    code, out, err = bot_db(server, "branch", "prune", "--yes")
    assert code == 0, err
    assert "bot" in databases(server)


def test_a_parent_ahead_of_the_code_is_not_copied(server: Settings, repo: Path) -> None:
    assert bot_db(server, "up")[0] == 0
    query(server, "bot", "UPDATE alembic_version SET version_num = 'ffff00000000'")
    try:
        git(repo, "checkout", "-q", "-b", "fresh-start")
        code, out, err = bot_db(server, "up")
        assert code == 0, err
        name = branches.database_name("bot", "fresh-start")
        assert f"new database {name} (no parent database to copy)" in out
        assert f"base -> {HEAD}" in out and "seed      4 users" in out
    finally:
        query(server, "bot", f"UPDATE alembic_version SET version_num = '{HEAD}'")  # noqa: S608


def test_a_database_ahead_of_the_code_is_named_in_one_line(server: Settings, repo: Path) -> None:
    single = server.model_copy(update={"postgres_db": "solo", "branch_databases": False})
    git(repo, "checkout", "-q", "-b", "feature/ahead")
    add_migration(repo, REVISION_A, "branch_a_notes")
    assert bot_db(single, "up")[0] == 0
    git(repo, "checkout", "-q", "main")

    for command in ("check", "migrate", "status", "seed"):
        code, out, err = bot_db(single, command)
        said = (out + err).strip()
        assert code == 1, command
        assert "Traceback" not in said and "Can't locate" not in said
        assert f"revision {REVISION_A}, which this checkout's migrations do not have" in said
        assert "branch 'feature/ahead'" in said and "bot-db reset" in said

    async def connect() -> None:
        async with Database.connect(single):
            pass

    with pytest.raises(SchemaAheadOfCodeError) as raised:
        asyncio.run(connect())
    assert raised.value.revision == REVISION_A
    # The bot's process asks no git: it points at the command that does.
    assert "bot-db check" in str(raised.value) and "\n" not in str(raised.value)
    assert "feature/ahead" not in str(raised.value)

    production = single.model_copy(update={"environment": "production"})
    with pytest.raises(SchemaAheadOfCodeError) as raised:
        asyncio.run(Database.connect(production).__aenter__())
    assert "feature/ahead" not in str(raised.value) and "deploy" in str(raised.value)


def test_concurrent_up_on_two_worktrees(server: Settings, repo: Path) -> None:
    assert bot_db(server, "up")[0] == 0
    trees = {name: repo.parent / name for name in ("left", "right")}
    for name, path in trees.items():
        git(repo, "worktree", "add", "-q", "-b", f"wt-{name}", str(path))
    environment = {
        **os.environ,
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(server.port),
        "POSTGRES_DB": "bot",
        "POSTGRES_USER": "bot",
        "POSTGRES_PASSWORD": PASSWORD,
        "BOT_DB_BACKEND": "embedded",
        "BOT_DB_DATA_DIR": str(server.data_dir),
        "BOT_DB_BRANCH_DATABASES": "true",
        "NO_COLOR": "1",
    }
    environment.pop("DATABASE_URL", None)
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "bot_persistence", "up"],
            cwd=path,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for path in trees.values()
    ]
    results = [process.communicate(timeout=120) for process in started]
    for process, (out, err) in zip(started, results, strict=True):
        assert process.returncode == 0, err
        assert "copied from main's" in out, out
    for name in trees:
        database = branches.database_name("bot", f"wt-{name}")
        assert query(server, database, "SELECT version_num FROM alembic_version") == HEAD


def strict_bot_db(settings: Settings, *argv: str) -> tuple[int, str, str]:
    """``bot-db ARGV`` writing to streams that refuse what cannot be encoded, as a
    terminal in a strict UTF-8 locale does; what it wrote, decoded."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    code = cli.main(list(argv), settings=settings, stdout=out, stderr=err, stdin=io.StringIO())
    out.flush()
    err.flush()
    return code, out.buffer.getvalue().decode(), err.buffer.getvalue().decode()


def test_a_branch_name_that_is_not_utf8_breaks_no_command(server: Settings, repo: Path) -> None:
    # Git branch names are bytes; Latin-1 "café" is a legal one. Bytes reach git as given.
    latin = b"caf\xe9".decode("utf-8", "surrogateescape")
    other = b"d\xe9j\xe0-vu".decode("utf-8", "surrogateescape")
    git(repo, "branch", latin)
    assert strict_bot_db(server, "up")[0] == 0  # on main, with the name in the repository
    git(repo, "checkout", "-q", latin)
    database = branches.database_name("bot", latin)
    for command in (["up"], ["url"], ["check"], ["status"], ["snapshot", "list"]):
        code, out, err = strict_bot_db(server, *command)
        assert (code, err) == (0, ""), f"{command}: {err}"
    assert database in databases(server)
    code, out, _ = strict_bot_db(server, "branch", "list")
    assert code == 0 and "caf\\xe9" in out  # shown escaped, as git shows it
    code, out, _ = strict_bot_db(server, "branch", "list", "--json")
    assert code == 0
    assert "caf\\xe9" in {entry["branch"] for entry in json.loads(out)["branches"]}

    git(repo, "checkout", "-q", "-b", other)
    assert strict_bot_db(server, "up")[0] == 0
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", other)
    code, out, err = strict_bot_db(server, "branch", "prune", "--yes")
    assert code == 0, err
    assert branches.database_name("bot", other) not in databases(server)
    code, out, err = strict_bot_db(server, "down")
    assert code == 0, err
    assert strict_bot_db(server, "up")[0] == 0  # the module's server runs on for the others
