"""Test databases on a server: templates keyed by a hash, clones, and the sweep of leftovers.

A template is a database migrated to head (``migrated``), and seeded too
(``seeded``), named for a hash of the migrations and seeds that made it. It is
built once, under a PostgreSQL advisory lock, by whichever process asks first;
every other process (xdist workers, later runs against the same server) finds
it and clones it with ``CREATE DATABASE ... TEMPLATE``, a file copy on the
server. A changed migration or seed file changes the hash, so the next run
builds a new template and drops the old ones.

Every database a test run makes is named ``bpt_<host>_<run>_<pid>_<what>``: the
host and pid of the process that owns it. A run killed before its cleanup
leaves such databases behind; the next run on the same host drops those whose
owner pid is gone (:meth:`TestDatabases.sweep`).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import psycopg

from bot_persistence.errors import ConfigurationError
from bot_persistence.provision.base import pid_alive
from bot_persistence.provision.databases import (
    allow_connections,
    create_database,
    database_exists,
    drop_database,
    rename_database,
)
from bot_persistence.settings import Settings

__all__ = [
    "PREFIX",
    "TEMPLATE_KINDS",
    "TemplateKind",
    "TestDatabases",
    "template_hash",
]

_log = logging.getLogger(__name__)

#: Every database a test run creates starts with this.
PREFIX = "bpt_"
TemplateKind = Literal["seeded", "migrated", "empty"]
TEMPLATE_KINDS: tuple[TemplateKind, ...] = ("seeded", "migrated", "empty")
#: Serialises template builds across processes and runs ("bptmpl" in ASCII).
TEMPLATE_LOCK_KEY = 0x6270746D706C
#: Bumped when the way templates are built changes, so old ones are not reused.
_FORMAT = "1"
_OWNED = re.compile(r"^bpt_(?P<host>[0-9a-f]{4})_(?P<run>[0-9a-f]{8})_(?P<pid>\d+)_")
_TEMPLATE = re.compile(r"bpt_tpl_(?P<hash>[0-9a-f]{12})_(?P<kind>[a-z]+)")


def template_hash(root: Path) -> str:
    """A hash of everything a template is made from: Alembic's env and revisions, and seeds."""
    digest = hashlib.sha256(_FORMAT.encode())
    files = [root / "alembic" / "env.py"]
    files += sorted((root / "alembic" / "versions").rglob("*.py"))
    files += sorted((root / "seeds").rglob("*.json"))
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode(), usedforsecurity=False).hexdigest()[:4]


class TestDatabases:
    """Creates, clones and drops the databases of one test process on one server.

    ``admin`` are settings for a role allowed to create databases (the server's
    owner on the throw-away servers; the CI service's user on an external one).
    ``root`` is the checkout whose ``alembic/`` and ``seeds/`` make the templates;
    their hash is taken once, here.
    """

    __test__ = False  # not a test class, whatever pytest's name rules say

    def __init__(self, admin: Settings, *, run_id: str, root: Path, pid: int | None = None) -> None:
        self.admin = admin
        self.run_id = run_id
        self.root = root
        self.pid = os.getpid() if pid is None else pid
        self.hash = template_hash(root)
        self._counter = itertools.count()
        self._ready: set[str] = set()
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    # -- naming ---------------------------------------------------------------------

    @property
    def owner_prefix(self) -> str:
        """The prefix of every database this process owns."""
        return f"{PREFIX}{_host_tag()}_{self.run_id[:8]}_{self.pid}_"

    def new_name(self, what: str = "") -> str:
        """A database name no other process or test uses."""
        return f"{self.owner_prefix}{what}{next(self._counter)}"

    def template_name(self, kind: TemplateKind) -> str:
        """The template for ``kind`` and the current migrations and seeds."""
        if kind == "empty":
            return "template1"
        return f"{PREFIX}tpl_{self.hash}_{kind}"

    def settings_for(self, database: str) -> Settings:
        """The admin settings, pointed at ``database`` (as ``POSTGRES_*`` parts)."""
        return Settings.from_values(
            postgres_host=self.admin.host,
            postgres_port=self.admin.port,
            postgres_user=self.admin.user,
            postgres_password=self.admin.password,
            postgres_db=database,
            backend="external",
            connect_timeout=self.admin.connect_timeout,
            startup_timeout=self.admin.startup_timeout,
        )

    # -- server-side work ------------------------------------------------------------

    @contextlib.contextmanager
    def _admin(self) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
        """One connection to the maintenance database, kept for this process's life.

        A new connection costs more than the clone it is for (authentication
        and a backend start), so it is opened once and reopened only if lost.
        """
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(
                host=self.admin.host,
                port=self.admin.port,
                user=self.admin.user,
                password=self.admin.password,
                dbname="postgres",
                connect_timeout=self.admin.connect_timeout,
                autocommit=True,
            )
        yield self._conn

    def close(self) -> None:
        """Close the maintenance connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def ensure_template(self, kind: TemplateKind) -> str:
        """The template's name, building it first if no process has yet."""
        name = self.template_name(kind)
        if kind == "empty" or name in self._ready:
            return name
        with self._admin() as conn:
            if database_exists(conn, name):
                return name
            conn.execute("SELECT pg_advisory_lock(%s)", (TEMPLATE_LOCK_KEY,))
            try:
                if not database_exists(conn, name):  # another process may have built it meanwhile
                    self._build(conn, kind, name)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (TEMPLATE_LOCK_KEY,))
        self._ready.add(name)
        return name

    def _build(
        self, conn: psycopg.Connection[tuple[object, ...]], kind: TemplateKind, name: str
    ) -> None:
        # Imported here: a test run that never needs a template never pays for Alembic.
        from bot_persistence.devdb.seeding import apply_seeds
        from bot_persistence.devdb.target import Target
        from bot_persistence.migrations import upgrade

        # Built under a temporary name, renamed when complete: a template that
        # exists is always whole, even if this process is killed half-way.
        work = self.new_name("build_")
        if kind == "seeded":
            source = self.ensure_template_locked(conn, "migrated")
            create_database(conn, work, template=source)
            with Target(self.settings_for(work)) as target:
                apply_seeds(target, folder=self.root / "seeds")
        else:
            create_database(conn, work, template="template1")
            upgrade(self.settings_for(work), ini=self.root / "alembic.ini")
        rename_database(conn, work, name)
        allow_connections(conn, name, False)
        _log.info("built template %s", name)
        self._drop_outdated_templates(conn, kind)

    def ensure_template_locked(
        self, conn: psycopg.Connection[tuple[object, ...]], kind: TemplateKind
    ) -> str:
        """Like :meth:`ensure_template`, for a caller already holding the lock."""
        name = self.template_name(kind)
        if not database_exists(conn, name):
            self._build(conn, kind, name)
        return name

    def _drop_outdated_templates(
        self, conn: psycopg.Connection[tuple[object, ...]], kind: TemplateKind
    ) -> None:
        current = self.template_name(kind)
        for (other,) in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'bpt\\_tpl\\_%%'"
        ).fetchall():
            match = _TEMPLATE.fullmatch(str(other))
            if match and match["kind"] == kind and other != current:
                drop_database(conn, str(other))
                _log.info("dropped outdated template %s", other)

    def clone(self, kind: TemplateKind, *, name: str | None = None) -> str:
        """A new database copied from the ``kind`` template; its name."""
        target = name or self.new_name()
        template = self.ensure_template(kind)
        with self._admin() as conn:
            try:
                create_database(conn, target, template=template, file_copy=True)
            except psycopg.errors.InvalidCatalogName:
                # Another run (other migrations) replaced the template meanwhile.
                self._ready.discard(template)
                template = self.ensure_template(kind)
                create_database(conn, target, template=template, file_copy=True)
        return target

    def drop(self, name: str) -> None:
        """Drop ``name``, ending its sessions first; nothing when it is gone already."""
        if not name.startswith(self.owner_prefix):
            raise ConfigurationError(f"refusing to drop {name!r}: this test run did not create it")
        with self._admin() as conn:
            drop_database(conn, name)

    def sweep(self) -> list[str]:
        """Drop databases left by killed runs on this host (owner pid gone); their names."""
        host = _host_tag()
        dropped = []
        with self._admin() as conn:
            names = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE 'bpt\\_%%'"
            ).fetchall()
            for (raw,) in names:
                match = _OWNED.match(str(raw))
                if not match or match["host"] != host:
                    continue
                pid = int(match["pid"])
                if pid == self.pid or pid_alive(pid):
                    continue
                drop_database(conn, str(raw))
                dropped.append(str(raw))
        if dropped:
            _log.info("dropped %d database(s) left by killed test runs", len(dropped))
        return dropped

    def owned(self) -> list[str]:
        """The databases this process owns now (for cleanup and tests)."""
        with self._admin() as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s) ORDER BY 1",
                (self.owner_prefix,),
            ).fetchall()
        return [str(row[0]) for row in rows]
