"""Data at scale and the rehearsal, each against the plainest way to do the same work.

- ``seed --scale 10`` (generation, COPY, the big table's indexes and foreign
  keys built again, ANALYZE) against a bare ``COPY`` of the same rows,
  generated beforehand, into the same migrated tables with their indexes and
  foreign keys in place (what loading by COPY costs without the rebuild).
- ``bot-db rehearse`` of three revisions at scale 1 (a throw-away database,
  migrated, filled, a second of baseline load, each revision applied under
  the load and watched, dropped) against a plain ``alembic upgrade`` of the
  same three revisions on a database holding the same data.

Both run on one throw-away server, alternating run by run.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from alembic import command

from benchmarks._harness import Bench, Measurement
from bot_persistence.connection import MAINTENANCE_DATABASE, connect, connected_engine
from bot_persistence.devdb import scale_seed
from bot_persistence.devdb.rehearsal import pending_steps, rehearse
from bot_persistence.migrations import alembic_config, runner
from bot_persistence.project import project_root, versions_dir
from bot_persistence.provision.databases import create_database, drop_database
from bot_persistence.provision.scratch import throwaway_server
from bot_persistence.schema_version import single_head
from bot_persistence.settings import Settings

RUNS = 3
SEED_SCALE = 10
HEAD = str(single_head(versions_dir()))
REVISIONS = (
    ('op.add_column("playlist_tracks", sa.Column("note", sa.Text(), nullable=True))'),
    (
        'safe.create_index_concurrently("ix_playlist_tracks_added_by", "playlist_tracks", '
        '["added_by"])'
    ),
    (
        'op.add_column("guild_settings", sa.Column("bench_flag", sa.Boolean(), '
        'server_default=sa.text("false"), nullable=False))'
    ),
)


def _history(folder: Path) -> Path:
    root = project_root()
    shutil.copy(root / "alembic.ini", folder / "alembic.ini")
    shutil.copytree(
        root / "alembic", folder / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    down = HEAD
    for number, upgrade in enumerate(REVISIONS, start=1):
        revision = f"benchrh{number:05d}"
        (folder / "alembic" / "versions" / f"{revision}.py").write_text(
            f'"""bench revision {number}"""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
            "from bot_persistence.migrations import safe\n\n"
            f"revision = {revision!r}\ndown_revision = {down!r}\n"
            "branch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade() -> None:\n    {upgrade}\n\n\ndef downgrade() -> None:\n    pass\n"
        )
        down = revision
    return folder / "alembic.ini"


def _url(settings: Settings) -> str:
    return str(settings.url.set(drivername="postgresql").render_as_string(hide_password=False))


@contextlib.contextmanager
def _database(
    server: Settings, admin: psycopg.Connection[Any], template: str
) -> Iterator[Settings]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    create_database(admin, name, template=template)
    try:
        yield _named(server, name)
    finally:
        drop_database(admin, name)


def _named(server: Settings, name: str) -> Settings:
    from pydantic import SecretStr

    url = server.url.set(database=name).render_as_string(hide_password=False)
    return server.model_copy(update={"database_url": SecretStr(url)})


def _materialised(table: scale_seed.Table) -> scale_seed.Table:
    """The same table with its rows generated once, beforehand: COPY alone is timed."""
    rows = list(table.rows())
    return scale_seed.Table(table.name, table.columns, lambda: iter(rows), table.count)


def _seed_rows(
    bench: Bench, server: Settings, admin: psycopg.Connection[Any], template: str
) -> None:
    data = scale_seed.generate(SEED_SCALE)
    materialised = tuple(_materialised(table) for table in data.tables)
    scaled: list[float] = []
    bare: list[float] = []
    for _ in range(RUNS):
        with (
            _database(server, admin, template) as database,
            psycopg.connect(_url(database), autocommit=True) as conn,
        ):
            scaled += bench.time(
                "seed", lambda: scale_seed.load_scale(conn, SEED_SCALE), repeat=1
            ).samples

        def copy_only(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute("SET LOCAL statement_timeout = 0")
                scale_seed.copy_tables(conn, materialised)

        with (
            _database(server, admin, template) as database,
            psycopg.connect(_url(database), autocommit=True) as conn,
        ):
            bare += bench.time("copy", lambda: copy_only(conn), repeat=1).samples
    baseline = Measurement(
        f"bare COPY of the same {SEED_SCALE * 100_000:,} entries' rows, indexes kept up",
        tuple(bare),
    )
    bench.record(baseline)
    bench.record(
        Measurement(f"seed --scale {SEED_SCALE}: generate, COPY, rebuild, ANALYZE", tuple(scaled)),
        baseline=baseline,
        bar=1.0,
    )


def _rehearsal(
    bench: Bench, server: Settings, admin: psycopg.Connection[Any], template: str
) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-rehearse-") as tmp:
        ini = _history(Path(tmp))
        steps = pending_steps(server, HEAD, ini=ini)
        whole: list[float] = []
        plain: list[float] = []
        for _ in range(RUNS):
            whole += bench.time(
                "rehearse",
                lambda: rehearse(server, admin, steps, start=HEAD, scale=1, ini=ini),
                repeat=1,
            ).samples
            with _database(server, admin, template) as database:
                with psycopg.connect(_url(database), autocommit=True) as conn:
                    scale_seed.load_scale(conn, 1)

                def upgrade() -> None:
                    with connected_engine(database) as engine, engine.connect() as conn:
                        command.upgrade(alembic_config(database, connection=conn, ini=ini), "head")
                        conn.commit()

                plain += bench.time("upgrade", upgrade, repeat=1).samples
    baseline = Measurement(
        f"alembic upgrade of {len(REVISIONS)} revisions on scale-1 data", tuple(plain)
    )
    bench.record(baseline)
    bench.record(
        Measurement(
            f"rehearse the same {len(REVISIONS)} revisions at scale 1, everything included",
            tuple(whole),
        ),
        baseline=baseline,
    )


def run(bench: Bench) -> None:
    with throwaway_server() as scratch:
        server = scratch.settings
        with connect(server, database=MAINTENANCE_DATABASE) as admin:
            template = f"bench_template_{uuid.uuid4().hex[:8]}"
            create_database(admin, template)
            try:
                runner.upgrade(_named(server, template))
                _seed_rows(bench, server, admin, template)
                _rehearsal(bench, server, admin, template)
            finally:
                drop_database(admin, template)
