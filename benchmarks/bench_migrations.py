"""The whole migration roundtrip against a plain ``alembic upgrade head`` + ``downgrade base``.

Both run on the same throw-away server in the same run: the project's own
revisions, and a generated history of 30 small revisions in a temporary copy
of ``alembic/``. The baseline is what any check pays at least: every revision
up once and down once, through Alembic's command API. The roundtrip does all
its checks (stairway, model match, seeds, squawk), each on a scratch database
it creates and drops, with the script directory loaded once.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table

from benchmarks._harness import Bench, Measurement
from bot_persistence.connection import admin_url, connected_engine
from bot_persistence.devdb.seeding import apply_seeds_on
from bot_persistence.migrations import alembic_config
from bot_persistence.migrations.roundtrip import roundtrip
from bot_persistence.models import Base
from bot_persistence.project import project_root, versions_dir
from bot_persistence.provision.databases import create_database, drop_database
from bot_persistence.provision.scratch import throwaway_server
from bot_persistence.schema_version import heads_in
from bot_persistence.settings import Settings

RUNS = 7
GENERATED = 30
PROJECT_HEAD = heads_in(versions_dir())[0]


def _generated_history(folder: Path) -> tuple[Path, MetaData]:
    """A copy of alembic/ plus 30 small revisions, and the models that match them."""
    root = project_root()
    shutil.copy(root / "alembic.ini", folder / "alembic.ini")
    shutil.copytree(
        root / "alembic", folder / "alembic", ignore=shutil.ignore_patterns("__pycache__")
    )
    down = PROJECT_HEAD
    for number in range(1, GENERATED + 1):
        revision = f"bench{number:07d}"
        if number == 1:
            upgrade = (
                'op.create_table("bench_items", sa.Column("id", sa.BigInteger(), primary_key=True))'
            )
            downgrade = 'op.drop_table("bench_items")'
        else:
            upgrade = f'op.add_column("bench_items", sa.Column("c{number:02d}", sa.Integer()))'
            downgrade = f'op.drop_column("bench_items", "c{number:02d}")'
        (folder / "alembic" / "versions" / f"{revision}.py").write_text(
            f'"""generated revision {number}"""\n\n'
            "import sqlalchemy as sa\nfrom alembic import op\n\n"
            f"revision = {revision!r}\ndown_revision = {down!r}\n"
            "branch_labels = None\ndepends_on = None\n\n\n"
            f"def upgrade() -> None:\n    {upgrade}\n\n\n"
            f"def downgrade() -> None:\n    {downgrade}\n"
        )
        down = revision
    metadata = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    Table(
        "bench_items",
        metadata,
        Column("id", BigInteger, primary_key=True),
        *(Column(f"c{number:02d}", Integer) for number in range(2, GENERATED + 1)),
    )
    return folder / "alembic.ini", metadata


@contextmanager
def _fresh_database(server: Settings) -> Iterator[Settings]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with connected_engine(server, url=admin_url(server)) as admin:
        auto = admin.execution_options(isolation_level="AUTOCOMMIT")
        with auto.connect() as conn:
            create_database(conn, name)
        try:
            yield server.model_copy(update={"postgres_db": name})
        finally:
            with auto.connect() as conn:
                drop_database(conn, name)


def _plain_up_down(server: Settings, ini: Path) -> None:
    """`alembic upgrade head` then `alembic downgrade base`, on one connection."""
    with (
        _fresh_database(server) as database,
        connected_engine(database) as engine,
        engine.connect() as conn,
    ):
        config = alembic_config(database, connection=conn, ini=ini)
        command.upgrade(config, "head")
        command.downgrade(config, "base")
        conn.commit()


def _measure(bench: Bench, server: Settings, label: str, ini: Path, metadata: MetaData) -> None:
    """Baseline and roundtrip, alternating run by run so a busy machine weighs on both alike."""
    script = ScriptDirectory.from_config(alembic_config(server, ini=ini))
    report = roundtrip(server, seed=apply_seeds_on, ini=ini, metadata=metadata, script=script)
    if not report.ok:
        raise SystemExit(f"the roundtrip of {label} found problems: {report.findings}")
    plain: list[float] = []
    whole: list[float] = []
    _plain_up_down(server, ini)  # warm-up
    for _ in range(RUNS):
        plain += bench.time("plain", lambda: _plain_up_down(server, ini), repeat=1).samples
        whole += bench.time(
            "roundtrip",
            lambda: roundtrip(
                server, seed=apply_seeds_on, ini=ini, metadata=metadata, script=script
            ),
            repeat=1,
        ).samples
    baseline = Measurement(f"{label}: alembic upgrade head + downgrade base", tuple(plain))
    bench.record(baseline)
    bench.record(
        Measurement(f"{label}: roundtrip, every check", tuple(whole)), baseline=baseline, bar=3.0
    )


def run(bench: Bench) -> None:
    with throwaway_server() as scratch, tempfile.TemporaryDirectory(prefix="bench-mig-") as tmp:
        server = scratch.settings
        root = project_root()
        _measure(bench, server, "project (2 revisions)", root / "alembic.ini", Base.metadata)
        ini, metadata = _generated_history(Path(tmp))
        _measure(bench, server, f"generated ({GENERATED + 2} revisions)", ini, metadata)
