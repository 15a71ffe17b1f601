"""Through PgBouncer, for real: shards' repository calls, migrations on start-up, bad modes.

Each test starts Debian's ``pgbouncer`` in front of the run's server. Without
it the module skips on a laptop and fails with ``CI`` set (``.ci/run``
installs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bot_persistence import cli, migrations
from bot_persistence.db import Database
from bot_persistence.errors import (
    PoolerModeError,
    ServerNotRunningError,
    StatementTimeoutError,
    TlsUnavailableError,
)
from bot_persistence.project import checkout_root, versions_dir
from bot_persistence.provision.base import free_port
from bot_persistence.provision.pgbouncer import pgbouncer_binary, throwaway_pgbouncer
from bot_persistence.schema_version import heads_in
from bot_persistence.settings import PoolerMode, Settings
from bot_persistence.testing import TestDatabase
from tests.helpers import SHARD_STARTUP, wait_for_lock_waiters

HEAD = heads_in(versions_dir())[0]


@pytest.fixture(scope="module", autouse=True)
def _pgbouncer_installed() -> None:
    if pgbouncer_binary() is None:
        reason = "pgbouncer is not installed (apt-get install pgbouncer)"
        if os.environ.get("CI"):
            pytest.fail(reason + " (required: CI is set)")
        pytest.skip(reason)


@pytest.fixture
def bouncer(
    request: pytest.FixtureRequest, db_factory: Callable[..., TestDatabase]
) -> Iterator[tuple[Settings, Settings]]:
    """(direct, through PgBouncer) settings for a migrated database of the test's own."""
    param: tuple[str, PoolerMode] = getattr(request, "param", ("migrated", "transaction"))
    template, mode = param
    direct = db_factory(template).settings
    with throwaway_pgbouncer(direct, pool_mode=mode) as through:
        yield direct, through


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.url.render_as_string(hide_password=False),
        "BOT_DB_POOLER": settings.pooler,
        "NO_COLOR": "1",
        **extra,
    }


def test_four_shards_make_500_calls_each_through_a_transaction_pooler(
    bouncer: tuple[Settings, Settings],
) -> None:
    _, through = bouncer
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bot_persistence.devdb.shard_load", "--shard", str(shard)],
            env=_env(through),
            cwd=checkout_root(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for shard in range(4)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    assert [r["calls"] for r in results] == [500] * 4
    assert [len(r["latencies_ms"]) for r in results] == [500] * 4
    errors = [e for r in results for e in r["errors"]]
    assert errors == [], errors[:5]


@pytest.mark.parametrize("bouncer", [("empty", "transaction")], indirect=True)
def test_eight_shards_migrating_on_start_up_through_the_pooler_migrate_once(
    bouncer: tuple[Settings, Settings],
) -> None:
    direct, through = bouncer
    holder = create_engine(direct.url, poolclass=NullPool)
    processes: list[subprocess.Popen[str]] = []
    try:
        with holder.connect() as conn, holder.connect() as watcher:
            # Hold the lock (directly) until all eight wait on it through the pooler,
            # so they contend at once instead of finishing one after another.
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": migrations.MIGRATION_LOCK_KEY})
            conn.commit()
            names = {f"shard-{shard}" for shard in range(8)}
            for name in sorted(names):
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-c", SHARD_STARTUP],
                        env=_env(
                            through,
                            BOT_DB_MIGRATE_ON_STARTUP="true",
                            BOT_DB_APPLICATION_NAME=name,
                        ),
                        cwd=checkout_root(),
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                )

            wait_for_lock_waiters(watcher, names, what="all eight shards queued on the lock")
            assert all(p.poll() is None for p in processes), "a shard ended early"
            conn.execute(
                text("SELECT pg_advisory_unlock(:k)"), {"k": migrations.MIGRATION_LOCK_KEY}
            )
            conn.commit()
        outputs = []
        for process in processes:
            out, err = process.communicate(timeout=120)  # a hang fails here
            assert process.returncode == 0, err
            outputs.append(out)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.communicate()
        holder.dispose()
    assert sum("migrated" in out for out in outputs) == 1, outputs
    assert migrations.current_revision(direct) == HEAD
    with holder.connect() as conn:
        leaked = conn.execute(
            text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
        ).scalar_one()
    assert leaked == 0, "a migration lock outlived its run"


@pytest.mark.parametrize("mode", ["transaction", "session"])
async def test_the_statement_timeout_holds_through_a_pooler(
    mode: PoolerMode, db_factory: Callable[..., TestDatabase]
) -> None:
    direct = db_factory("migrated").settings
    with throwaway_pgbouncer(direct, pool_mode=mode) as through:
        limited = through.model_copy(update={"statement_timeout_ms": 200})
        async with Database.connect(limited) as db:
            for _ in range(2):  # a second unit of work: the timeout is not a one-off
                with pytest.raises(StatementTimeoutError):
                    async with db.session() as session:
                        await session.execute(text("SELECT pg_sleep(2)"))
            async with db.session() as session:
                assert (await session.execute(text("SELECT 1"))).scalar_one() == 1


async def test_a_pooler_in_statement_mode_is_refused_in_one_line(
    db_factory: Callable[..., TestDatabase],
) -> None:
    direct = db_factory("migrated").settings
    with throwaway_pgbouncer(direct, pool_mode="statement") as through:
        mislabelled = through.model_copy(update={"pooler": "transaction"})
        with pytest.raises(PoolerModeError, match="statement pooling mode") as caught:
            await Database.connect(mislabelled)
        assert "\n" not in str(caught.value)
        with pytest.raises(PoolerModeError):
            await Database.connect(through)  # BOT_DB_POOLER=statement: refused before connecting


async def test_a_pooler_that_is_down_is_named(db_factory: Callable[..., TestDatabase]) -> None:
    direct = db_factory("migrated").settings
    gone = direct.url.set(port=free_port()).render_as_string(hide_password=False)
    # The bot waits BOT_DB_STARTUP_TIMEOUT for a pooler that may still be starting;
    # a second is enough to see that nothing answers (the default 30 s is not needed).
    settings = direct.model_copy(
        update={
            "database_url": type(direct.postgres_password)(gone),
            "pooler": "transaction",
            "startup_timeout": 1.0,
        }
    )
    with pytest.raises(ServerNotRunningError, match="no PgBouncer answers"):
        await Database.connect(settings)


def test_sslmode_require_against_a_server_without_tls_is_one_line(
    db_factory: Callable[..., TestDatabase], tmp_path: Path
) -> None:
    import io

    direct = db_factory("migrated").settings
    url = direct.url.update_query_dict({"sslmode": "require"})
    settings = direct.model_copy(
        update={
            "database_url": type(direct.postgres_password)(
                url.render_as_string(hide_password=False)
            )
        }
    )
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["migrate"], settings=settings, stdout=out, stderr=err, stdin=io.StringIO())
    assert code == 1
    assert err.getvalue().count("\n") == 1 and "does not offer TLS" in err.getvalue()
    assert migrations.current_revision(direct) == HEAD  # the migrated template; untouched
    with pytest.raises(TlsUnavailableError):
        migrations.current_revision(settings)
