"""Backup and restore as docs/production.md tells it: pg_dump -Fc, pg_restore into an
empty database, and `bot-db check` passes on the copy with every row there."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from bot_persistence.errors import BackendUnavailableError
from bot_persistence.provision.scratch import binaries_for
from bot_persistence.testing import TestDatabase
from tests.helpers import bot_db

COUNTS = """
SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM playlists),
       (SELECT count(*) FROM tracks), (SELECT version_num FROM alembic_version)
"""


def counts(url: str) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(COUNTS).fetchone()
    assert row is not None
    return tuple(row)


def test_a_dump_restored_into_an_empty_database_passes_check(
    db_factory: Callable[..., TestDatabase], tmp_path: Path
) -> None:
    source = db_factory("seeded").settings
    target = db_factory("empty").settings
    dump = tmp_path / "bot.dump"
    # pg_dump and pg_restore of the server's own major, as the guide says: a
    # newer pg_restore writes settings an older server does not know
    # (transaction_timeout, from 17), and --exit-on-error stops there.
    with psycopg.connect(source.plain_url) as conn:
        major = conn.info.server_version // 10000
    try:
        tools, _ = binaries_for(major)
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    subprocess.run(
        [str(tools / "pg_dump"), "-Fc", "--no-owner", "-f", str(dump), "-d", source.plain_url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        [
            str(tools / "pg_restore"),
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "-d",
            target.plain_url,
            str(dump),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert counts(target.plain_url) == counts(source.plain_url)
    users = counts(target.plain_url)[0]
    assert isinstance(users, int) and users > 0  # the seeds came along
    code, out, err = bot_db(target, "check")
    assert code == 0, out + err
