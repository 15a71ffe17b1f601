"""Backup and restore as docs/production.md tells it: pg_dump -Fc, pg_restore into an
empty database, and `bot-db check` passes on the copy with every row there."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg

from bot_persistence.provision.binaries import embedded_bin_dir
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
    tools = embedded_bin_dir()
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
