"""Helpers the tests share: settings, the command line, engines, waiting, table contents.

Imported by name (``from tests.helpers import bot_db``); fixtures stay in the
conftest files, where pytest finds them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, select, text
from sqlalchemy.pool import NullPool

from bot_persistence import cli
from bot_persistence.db import Database
from bot_persistence.models import Base
from bot_persistence.project import project_root, versions_dir
from bot_persistence.schema_version import single_head
from bot_persistence.settings import Settings

PASSWORD = "test-password-\N{SNOWMAN}"


def wait_until(condition: Callable[[], object], *, timeout: float, what: str) -> None:
    """Poll ``condition`` until it is true; fail naming ``what`` when ``timeout`` runs out.

    The one polling loop of the test suite: every wait on the outside world goes
    through here, so none of them can become a bare sleep.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not so within {timeout:g} s"
        time.sleep(0.02)  # wait-ok: the poll interval of a condition bounded by the deadline


def make_settings(port: int, database: str, **overrides: object) -> Settings:
    """Settings for a test: nothing read from the environment or a .env file."""
    values: dict[str, object] = {
        "postgres_host": "127.0.0.1",
        "postgres_port": port,
        "postgres_db": database,
        "postgres_user": "bot",
        "postgres_password": PASSWORD,
        "backend": "external",
        "connect_timeout": 2,
        "startup_timeout": 10,
        # One database whatever branch the checkout is on; the branch tests opt in.
        "branch_databases": False,
    }
    values.update(overrides)
    return Settings.from_values(**values)


def bot_db(
    settings: Settings | None, *argv: str, stdin: io.StringIO | None = None
) -> tuple[int, str, str]:
    """Run ``bot-db ARGV`` in this process: exit code, standard output, standard error.

    ``settings`` replaces reading them from the environment and ``.env`` (``None``
    reads them, as the real command does).
    """
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(
        list(argv), settings=settings, stdout=out, stderr=err, stdin=stdin or io.StringIO()
    )
    return code, out.getvalue(), err.getvalue()


def seed(settings: Settings) -> None:
    """Apply seeds/ to ``settings``' database, as ``bot-db seed`` does on its target."""
    from bot_persistence.devdb import seeding
    from bot_persistence.devdb.target import Target

    with Target(settings) as target:
        seeding.apply_seeds(target)


@contextlib.contextmanager
def engine_for(settings: Settings, **options: Any) -> Iterator[Engine]:
    """A pool-less engine on ``settings``' database, disposed on exit: nothing lingers."""
    engine = create_engine(settings.url, poolclass=NullPool, **options)
    try:
        yield engine
    finally:
        engine.dispose()


def scalar(settings: Settings, statement: str) -> object:
    """Run ``statement`` in a transaction of its own (committed); its first value, if any."""
    with engine_for(settings) as engine, engine.begin() as conn:
        result = conn.execute(text(statement))
        return result.scalar() if result.returns_rows else None


def table_rows(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of the models, ids included, in a stable order.

    Comparing two of these proves a call changed nothing (or exactly what it should).
    """
    with engine_for(settings) as engine, engine.connect() as conn:
        return {
            table.name: [
                tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key))
            ]
            for table in Base.metadata.sorted_tables
        }


class StatementCounter:
    """Counts the statements a connection sends, read from libpq's protocol trace.

    The wire is the one place every statement passes, whatever builds or runs
    it: each ``Execute`` message (extended protocol, prepared or not) and each
    simple ``Query`` is a statement. Transaction control is not counted.
    """

    _CONTROL = ('"BEGIN"', '"COMMIT"', '"ROLLBACK"')

    def __init__(self, db: Database, path: Path) -> None:
        self.db = db
        self.path = path
        self._seen = 0

    def _all(self) -> int:
        count = 0
        for line in self.path.read_text().splitlines():
            fields = line.split("\t")
            if len(fields) < 3 or fields[0] != "F":
                continue
            control = fields[2] == "Query" and line.endswith(self._CONTROL)
            if fields[2] in ("Execute", "Query") and not control:
                count += 1
        return count

    def reset(self) -> None:
        self._seen = self._all()

    @property
    def count(self) -> int:
        return self._all() - self._seen


#: A shard starting with BOT_DB_MIGRATE_ON_STARTUP: the bot's own start-up path,
#: run with ``python -c`` by the tests that make many shards migrate at once.
SHARD_STARTUP = (
    "import asyncio, logging, sys\n"
    "from bot_persistence import Database, Settings\n"
    "logging.basicConfig(level=logging.INFO, format='%(message)s', stream=sys.stdout)\n"
    "async def main():\n"
    "    async with Database.connect(Settings()):\n"
    "        pass\n"
    "asyncio.run(main())\n"
)


def lock_waiters(conn: Connection) -> set[str]:
    """The application_name of each session waiting for an advisory lock in this database now.

    A waiter asks for the migration lock in short slices (so a concurrent index
    build is never deadlocked behind it), so between two slices it is briefly
    not waiting: a test that needs every process at the lock collects the
    names it has seen (each process named by ``BOT_DB_APPLICATION_NAME``)
    rather than counting the waiters of one instant.
    """
    names = conn.execute(
        text(
            "SELECT coalesce(a.application_name, '') FROM pg_locks l "
            "JOIN pg_stat_activity a USING (pid) "
            "WHERE l.locktype = 'advisory' AND NOT l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    ).scalars()
    found = {str(name) for name in names}
    conn.rollback()
    return found


def wait_for_lock_waiters(conn: Connection, names: set[str], *, what: str) -> None:
    """Until every process named in ``names`` has been seen waiting for the lock (60 s).

    A waiting session's name starts with its process's ``BOT_DB_APPLICATION_NAME``
    (a tool's connection adds its role: ``proc-1 migration``).
    """
    seen: set[str] = set()

    def all_seen() -> bool:
        seen.update(name.split(" ", 1)[0] for name in lock_waiters(conn))
        return names <= seen

    wait_until(all_seen, timeout=60, what=what)


#: The newest revision in alembic/versions (what a test's revision goes on top of).
HEAD = str(single_head(versions_dir()))


@dataclasses.dataclass
class History:
    """A copy of alembic.ini and alembic/ a test may add revisions to."""

    root: Path

    @classmethod
    def copied_to(cls, folder: Path) -> History:
        """The project's alembic.ini and alembic/ copied into ``folder``."""
        root = project_root()
        shutil.copy(root / "alembic.ini", folder / "alembic.ini")
        shutil.copytree(
            root / "alembic", folder / "alembic", ignore=shutil.ignore_patterns("__pycache__")
        )
        return cls(folder)

    @property
    def ini(self) -> Path:
        return self.root / "alembic.ini"

    def add(
        self,
        revision: str,
        *,
        down: str | tuple[str, ...] | None = HEAD,
        upgrade: str = "pass",
        downgrade: str = "pass",
        extra: str = "",
        doc: str = "a revision built by a test",
    ) -> None:
        body = f'''"""{revision}: {doc}"""

import sqlalchemy as sa
from alembic import op

from bot_persistence.migrations import safe

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None
{textwrap.dedent(extra)}

def upgrade() -> None:
{textwrap.indent(textwrap.dedent(upgrade).strip(), "    ")}


def downgrade() -> None:
{textwrap.indent(textwrap.dedent(downgrade).strip(), "    ")}
'''
        (self.root / "alembic" / "versions" / f"{revision}_test.py").write_text(body)
