"""The pytest plugin, run as contributors run it: test files with no conftest, under pytester.

Runs that only need a server use this run's server as an external one
(``--db-url``); runs that prove templates are kept or rebuilt get a server of
their own, so they never replace the templates the rest of the suite uses.
Inner embedded runs pass ``--db-fresh-server`` (they neither take nor give the
cached cluster), except the one test about that cache.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from bot_persistence.models import User
from bot_persistence.project import project_root
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.settings import Settings
from bot_persistence.testing import TestDatabase
from bot_persistence.testing.databases import TestDatabases, template_hash
from bot_persistence.testing.server import RunDir, scratch_base

#: The tests here that run pytest again (pytester) are deselected by default: tests/conftest.py.
pytestmark = pytest.mark.nested


def inner_ini(pytester: pytest.Pytester) -> None:
    """The settings a contributor's project would have for async tests."""
    pytester.makeini(
        """
        [pytest]
        asyncio_mode = auto
        asyncio_default_fixture_loop_scope = function
        """
    )


def url_of(settings: Settings) -> str:
    return settings.url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def shared_url(db_server: Settings) -> str:
    """This run's server, for inner runs that only need somewhere to put databases."""
    return url_of(db_server)


@pytest.fixture
def own_server() -> Iterator[Settings]:
    """A server of this test's own, so templates built on it touch nobody else's run."""
    run = RunDir(f"own-{uuid.uuid4().hex}", owner_pid=os.getpid(), use_cache=False)
    try:
        yield run.embedded_server()
    finally:
        run.purge()


def database_names(admin: Settings, like: str) -> dict[str, int]:
    """Database names matching ``like``, with their oids (a rebuilt database gets a new one)."""
    with psycopg.connect(
        host=admin.host,
        port=admin.port,
        user=admin.user,
        password=admin.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        rows = conn.execute(
            "SELECT datname, oid FROM pg_database WHERE datname LIKE %s", (like,)
        ).fetchall()
    return {str(name): int(oid) for name, oid in rows}


def copy_project(into: Path) -> None:
    """The checkout's migrations and seeds, as a contributor's working copy."""
    source = project_root()
    shutil.copy(source / "alembic.ini", into / "alembic.ini")
    shutil.copytree(
        source / "alembic", into / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(source / "seeds", into / "seeds")


# -- fixtures in a file with no conftest ----------------------------------------------------

USES_EVERY_FIXTURE = """
    import pytest
    from sqlalchemy import func, select, text
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session

    from bot_persistence.models import User

    def test_db_url_names_the_workers_database(db_url, db_engine):
        assert db_url.database.startswith("bpt_") and db_engine.url == db_url

    def test_db_session_sees_the_seed_rows(db_session: Session):
        assert db_session.scalar(select(func.count()).select_from(User)) == 4

    @pytest.mark.db_template("migrated")
    def test_migrated_template_has_tables_but_no_rows(db_session: Session):
        assert db_session.scalar(select(func.count()).select_from(User)) == 0

    @pytest.mark.db_template("empty")
    def test_empty_template_is_not_migrated(db_clean):
        with db_clean.engine.connect() as conn:
            assert conn.scalar(text("SELECT to_regclass('users')")) is None

    async def test_async_db_session_sees_the_seed_rows(async_db_session: AsyncSession):
        assert await async_db_session.scalar(select(func.count()).select_from(User)) == 4
"""


def test_fixtures_work_in_a_test_file_with_no_conftest(
    pytester: pytest.Pytester, shared_url: str
) -> None:
    pytester.makepyfile(test_contributor=USES_EVERY_FIXTURE)
    inner_ini(pytester)
    result = pytester.runpytest("--db-url", shared_url)
    result.assert_outcomes(passed=5)


COMMITS_THEN_LOOKS = """
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import Session

    from bot_persistence.models import User

    def count(session):
        return session.scalar(select(func.count()).select_from(User))

    def test_1_commits_a_user(db_session: Session):
        db_session.add(User(id=999, username="committed"))
        db_session.commit()
        assert count(db_session) == 5

    def test_2_does_not_see_it(db_session: Session):
        assert db_session.get(User, 999) is None and count(db_session) == 4

    async def test_3_async_commits_a_user(async_db_session: AsyncSession):
        async_db_session.add(User(id=998, username="committed too"))
        await async_db_session.commit()
        assert await async_db_session.get(User, 998) is not None

    async def test_4_async_does_not_see_it(async_db_session: AsyncSession):
        assert await async_db_session.get(User, 998) is None

    def test_5_nor_does_the_engine(db_engine):
        with db_engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(User)) == 4
"""


def test_commits_in_db_session_are_rolled_back_after_each_test(
    pytester: pytest.Pytester, shared_url: str
) -> None:
    pytester.makepyfile(test_commits=COMMITS_THEN_LOOKS)
    inner_ini(pytester)
    result = pytester.runpytest("--db-url", shared_url)
    result.assert_outcomes(passed=5)


def test_db_clean_commits_are_seen_by_other_connections_and_dropped_after(
    db_clean: TestDatabase, db_databases: TestDatabases
) -> None:
    with db_clean.engine.begin() as conn:
        conn.execute(text("INSERT INTO users (id, username) VALUES (1000, 'another')"))
    with db_clean.engine.connect() as other:
        assert other.scalar(select(User.username).where(User.id == 1000)) == "another"
    assert db_clean.name in db_databases.owned()


def test_db_session_commit_keeps_data_visible_within_the_test(db_session: Session) -> None:
    db_session.add(User(id=1001, username="mine"))
    db_session.commit()
    db_session.rollback()  # rolls back to the savepoint only: the commit stands for this test
    assert db_session.get(User, 1001) is not None


def test_db_engine_is_pooled_on_the_seeded_database(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(User)) == 4


def test_bot_db_database_gives_the_async_database_and_the_old_name_warns(
    pytester: pytest.Pytester, shared_url: str
) -> None:
    pytester.makepyfile(
        """
        from bot_persistence.db import Database

        async def test_uses_bot_db_database(bot_db_database, bot_db_settings):
            assert isinstance(bot_db_database, Database)
            assert bot_db_database.settings.database == bot_db_settings.database

        async def test_uses_the_old_name(database):
            assert isinstance(database, Database)
        """
    )
    inner_ini(pytester)
    result = pytester.runpytest("--db-url", shared_url, "-W", "default::DeprecationWarning")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*fixture*is now `bot_db_database`*"])


def test_unknown_template_kind_is_a_usage_error(pytester: pytest.Pytester, shared_url: str) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.db_template("seed")
        def test_typo(db_session):
            pass
        """
    )
    inner_ini(pytester)
    result = pytester.runpytest("--db-url", shared_url)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*db_template('seed'): choose one of seeded, migrated, empty*"])


def test_docker_backend_is_not_started_for_tests_without_a_database(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    inner_ini(pytester)
    result = pytester.runpytest_subprocess("--db-backend", "docker")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["test database: docker (*)"])


# -- xdist: one server, one template, separate databases ----------------------------------

RECORDS_ITS_SERVER = """
    import os
    import pytest
    from sqlalchemy import text

    @pytest.mark.parametrize("n", range(6))
    def test_records_server(n, db_session, db_clean, tmp_path_factory):
        started = db_session.scalar(text("SELECT pg_postmaster_start_time()::text"))
        port = db_session.scalar(text("SELECT inet_server_port()"))
        own = db_session.scalar(text("SELECT current_database()"))
        fields = [os.environ["PYTEST_XDIST_WORKER"], f"{started}@{port}", own, db_clean.name,
                  str(os.getppid())]
        with open(os.environ["SEEN_FILE"], "a") as handle:
            handle.write("|".join(fields) + "\\n")
"""


def test_xdist_workers_share_one_server_and_use_their_own_databases(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = pytester.path / "seen.txt"
    monkeypatch.setenv("SEEN_FILE", str(seen))
    pytester.makepyfile(test_xdist=RECORDS_ITS_SERVER)
    inner_ini(pytester)
    result = pytester.runpytest_subprocess(
        "-n", "2", "--db-backend", "embedded", "--db-fresh-server"
    )
    result.assert_outcomes(passed=6)
    lines = [line.split("|") for line in seen.read_text().splitlines()]
    assert {line[0] for line in lines} == {"gw0", "gw1"}
    servers = {line[1] for line in lines}
    assert len(servers) == 1, f"workers saw different servers: {servers}"
    worker_databases = {line[0]: line[2] for line in lines}
    assert worker_databases["gw0"] != worker_databases["gw1"]
    assert len({line[3] for line in lines}) == 6, "two tests got the same db_clean database"
    (controller,) = {line[4] for line in lines}
    left = [
        folder
        for folder in scratch_base().iterdir()
        if (folder / "owner.pid").is_file()
        and (folder / "owner.pid").read_text().strip() == controller
    ]
    assert left == [], "the run's server folder was not removed"


# -- templates: kept while the hash holds, rebuilt when a migration changes ------------------

CHECKS_THE_SCHEMA = """
    import os
    from sqlalchemy import text

    def test_template_matches_the_migrations(db_session):
        has = db_session.scalar(text("SELECT to_regclass('test_only_things') IS NOT NULL"))
        assert has == (os.environ["EXPECT_EXTRA_TABLE"] == "1")
"""

EXTRA_MIGRATION = '''
"""add a table only this test knows

Revision ID: feedc0ffee01
Revises: {head}
"""

import sqlalchemy as sa
from alembic import op

revision = "feedc0ffee01"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("test_only_things", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("test_only_things")
'''


def test_template_is_reused_then_rebuilt_when_a_migration_file_changes(
    pytester: pytest.Pytester, own_server: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot_persistence.migrations import head_revision

    copy_project(pytester.path)
    pytester.makepyfile(test_schema=CHECKS_THE_SCHEMA)
    inner_ini(pytester)
    url = url_of(own_server)
    monkeypatch.setenv("EXPECT_EXTRA_TABLE", "0")

    pytester.runpytest("--db-url", url).assert_outcomes(passed=1)
    first_hash = template_hash(pytester.path)
    built = database_names(own_server, "bpt\\_tpl\\_%")
    assert set(built) == {f"bpt_tpl_{first_hash}_migrated", f"bpt_tpl_{first_hash}_seeded"}

    pytester.runpytest("--db-url", url).assert_outcomes(passed=1)
    assert database_names(own_server, "bpt\\_tpl\\_%") == built, "the template was rebuilt"

    head = head_revision(own_server, ini=pytester.path / "alembic.ini")
    versions = pytester.path / "alembic" / "versions"
    (versions / "20990101_feedc0ffee01_extra.py").write_text(EXTRA_MIGRATION.format(head=head))
    monkeypatch.setenv("EXPECT_EXTRA_TABLE", "1")
    pytester.runpytest("--db-url", url).assert_outcomes(passed=1)
    second_hash = template_hash(pytester.path)
    assert second_hash != first_hash
    assert set(database_names(own_server, "bpt\\_tpl\\_%")) == {
        f"bpt_tpl_{second_hash}_migrated",
        f"bpt_tpl_{second_hash}_seeded",
    }


# -- a killed run's leftovers are cleaned up by the next run --------------------------------

KILLS_ITSELF = """
    import os
    import signal

    def test_killed_mid_run(db_session, db_clean):
        with open(os.environ["PID_FILE"], "w") as handle:
            handle.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
"""

USES_THE_DATABASE = """
    def test_uses_the_database(db_session):
        assert db_session.connection() is not None
"""


def run_killed(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """Run a test session that is killed mid-test; the killed process's pid."""
    pid_file = pytester.path / "pid.txt"
    monkeypatch.setenv("PID_FILE", str(pid_file))
    pytester.makepyfile(test_killed=KILLS_ITSELF)
    inner_ini(pytester)
    result = pytester.runpytest_subprocess(*args)
    assert result.ret != pytest.ExitCode.OK
    (pytester.path / "test_killed.py").unlink()
    return pid_file.read_text().strip()


def test_databases_of_a_killed_run_are_dropped_by_the_next_run(
    pytester: pytest.Pytester, own_server: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = url_of(own_server)
    pid = run_killed(pytester, monkeypatch, "--db-url", url)
    left = [name for name in database_names(own_server, "bpt\\_%") if f"_{pid}_" in name]
    assert len(left) == 2, f"expected the worker's and the test's databases, found {left}"

    pytester.makepyfile(test_next=USES_THE_DATABASE)
    pytester.runpytest_subprocess("--db-url", url).assert_outcomes(passed=1)
    assert [name for name in database_names(own_server, "bpt\\_%") if f"_{pid}_" in name] == []


def test_server_of_a_killed_run_is_stopped_and_removed_by_the_next_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot_persistence.provision.base import port_accepts

    pid = run_killed(pytester, monkeypatch, "--db-backend", "embedded", "--db-fresh-server")
    (folder,) = [
        folder
        for folder in scratch_base().iterdir()
        if (folder / "owner.pid").is_file() and (folder / "owner.pid").read_text().strip() == pid
    ]
    port = int(json.loads((folder / "server.json").read_text())["port"])
    assert port_accepts("127.0.0.1", port), "the killed run's server should still be running"

    pytester.makepyfile(test_next=USES_THE_DATABASE)
    pytester.runpytest_subprocess("--db-backend", "embedded", "--db-fresh-server").assert_outcomes(
        passed=1
    )
    assert not folder.exists()
    assert not port_accepts("127.0.0.1", port)


RECORDS_ITS_CLUSTER = """
    import os
    from sqlalchemy import text

    def test_records_cluster(db_session):
        cluster = db_session.scalar(text("SELECT system_identifier FROM pg_control_system()"))
        template = db_session.scalar(text(
            "SELECT oid FROM pg_database WHERE datname LIKE 'bpt_tpl_%seeded'"))
        with open(os.environ["SEEN_FILE"], "a") as handle:
            handle.write(f"{cluster} {template}\\n")
"""


def test_next_embedded_run_reuses_the_cached_server_and_its_templates(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = pytester.path / "seen.txt"
    monkeypatch.setenv("SEEN_FILE", str(seen))
    pytester.makepyfile(test_cluster=RECORDS_ITS_CLUSTER)
    inner_ini(pytester)
    for _ in range(2):
        pytester.runpytest_subprocess("--db-backend", "embedded").assert_outcomes(passed=1)
    pytester.runpytest_subprocess("--db-backend", "embedded", "--db-fresh-server").assert_outcomes(
        passed=1
    )
    first, second, fresh = seen.read_text().splitlines()
    assert first == second, "the second run made a new cluster or rebuilt the template"
    assert fresh.split()[0] != first.split()[0], "--db-fresh-server reused the cached cluster"


BROKEN_MIGRATION = '''
"""a migration with a typo in its SQL

Revision ID: badc0ffee002
Revises: {head}
"""

from alembic import op

revision = "badc0ffee002"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREAT TABLE oops (id int)")


def downgrade() -> None:
    pass
'''


def test_a_broken_migration_fails_the_tests_in_one_line_and_leaves_no_template(
    pytester: pytest.Pytester, own_server: Settings
) -> None:
    from bot_persistence.migrations import head_revision

    copy_project(pytester.path)
    head = head_revision(own_server, ini=pytester.path / "alembic.ini")
    versions = pytester.path / "alembic" / "versions"
    (versions / "20990101_badc0ffee002_broken.py").write_text(BROKEN_MIGRATION.format(head=head))
    pytester.makepyfile(test_uses=USES_THE_DATABASE)
    inner_ini(pytester)
    result = pytester.runpytest("--db-url", url_of(own_server))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*test database: revision badc0ffee002 * failed*CREAT*"])
    result.stdout.no_fnmatch_line("*The above exception was the direct cause*")
    assert database_names(own_server, "bpt\\_%") == {}


def test_a_run_whose_server_stopped_starts_it_again() -> None:
    run = RunDir(f"own-{uuid.uuid4().hex}", owner_pid=os.getpid(), use_cache=False)
    try:
        first = run.embedded_server()
        info = json.loads((run.path / "server.json").read_text())
        EmbeddedCluster(
            run.path, port=info["port"], user=first.user, password=first.password
        ).stop()
        again = run.embedded_server()
        assert again.password == first.password
        with psycopg.connect(
            host=again.host,
            port=again.port,
            user=again.user,
            password=again.password,
            dbname="postgres",
        ) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        run.purge()
