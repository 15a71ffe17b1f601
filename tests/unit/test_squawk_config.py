"""squawk reads its settings from .squawk.toml: style rules off, transactions written out."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from bot_persistence.migrations.sql_lint import RUN_PREAMBLE, squawk_binary
from bot_persistence.project import squawk_config


def rules_found(sql: str, tmp_path: Path) -> set[str]:
    path = tmp_path / "revision.sql"
    path.write_text(sql, encoding="utf-8")
    result = subprocess.run(
        [squawk_binary(), "--reporter", "json", f"--config={squawk_config()}", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr
    return {str(item["rule_name"]) for item in json.loads(result.stdout or "[]")}


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("CREATE TABLE t (name varchar(100) NOT NULL);\n", set()),
        # The revision's transaction is written out (sql_lint.as_one_transaction): a
        # concurrent build inside it is flagged, one in an autocommit block is not.
        (
            "BEGIN;\nCREATE INDEX CONCURRENTLY ix_t_name ON t (name);\nCOMMIT;\n",
            {"ban-concurrent-index-creation-in-transaction"},
        ),
        (
            "BEGIN;\nSELECT 1;\nCOMMIT;\nCREATE INDEX CONCURRENTLY ix_t_name ON t (name);\n"
            "BEGIN;\nSELECT 1;\nCOMMIT;\n",
            set(),
        ),
        # PostgreSQL 11+ adds a constant DEFAULT without a rewrite: not flagged for 15.
        ("ALTER TABLE t ADD COLUMN c bigint DEFAULT 10;\n", set()),
        ("CREATE INDEX ix_t_name ON t (name);\n", {"require-concurrent-index-creation"}),
    ],
    ids=[
        "style-rule-excluded",
        "concurrently-in-transaction",
        "concurrently-in-autocommit-block",
        "pg-version",
        "lock-rule-kept",
    ],
)
def test_squawk_run_with_the_config_applies_its_settings(
    sql: str, expected: set[str], tmp_path: Path
) -> None:
    # Linted as the runner sends it: after the run's own SET lock_timeout.
    assert rules_found(RUN_PREAMBLE + sql, tmp_path) == expected


def test_a_revision_is_linted_after_the_runs_lock_timeout_and_flagged_without_it(
    tmp_path: Path,
) -> None:
    alter = "ALTER TABLE t ADD COLUMN c bigint;\n"
    assert rules_found(RUN_PREAMBLE + alter, tmp_path) == set()
    assert rules_found(alter, tmp_path) == {"require-lock-timeout"}
