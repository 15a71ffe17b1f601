"""Each revision's own SQL, linted by squawk for operations that lock or rewrite a busy table.

For every revision we render Alembic's offline (``--sql``) output of that one
upgrade step, not the whole history at once, so a finding points at the
revision that brings it. Alembic runs each revision inside a transaction
(``transaction_per_migration`` in ``alembic/env.py``), so the ``BEGIN``/``COMMIT``
lines are left out and squawk is told ``--assume-in-transaction``; it then
judges the SQL the way the server will run it (``CREATE INDEX CONCURRENTLY``,
for one, cannot run there). Alembic's own version-table bookkeeping is left
out too.

A revision that does something squawk flags on purpose says so in its own
file, with the reason next to each rule::

    # squawk: rules this revision breaks on purpose, each with why it is safe here.
    squawk_exemptions = {
        "adding-not-nullable-field": "tracks gets a DEFAULT, so no row is rewritten",
    }

Only upgrades are linted: a downgrade is destructive by nature and runs only
in development (``bot-db downgrade`` is guarded).
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationStep
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import URL

from bot_persistence.errors import ConfigurationError, MigrationCheckError
from bot_persistence.migrations import alembic_config
from bot_persistence.settings import Settings

__all__ = [
    "EXCLUDED_RULES",
    "LintFinding",
    "exemptions_of",
    "lint_revisions",
    "revision_sql",
    "squawk_binary",
]

#: Rules about style rather than locks or rewrites of a busy table. Each is a
#: choice this project made knowingly; the rest of squawk's rules apply.
EXCLUDED_RULES: tuple[str, ...] = (
    # Column types are chosen per column in review (VARCHAR(n) for Discord's
    # length limits, SMALLINT for volumes), not by the linter.
    "prefer-text-field",
    "prefer-bigint-over-int",
    "prefer-bigint-over-smallint",
    "prefer-identity",
    # Alembic revisions run once, under a version check: they need not be
    # idempotent (IF NOT EXISTS everywhere would hide drift instead).
    "prefer-robust-stmts",
    # Timeouts are set by whoever runs the migration (the session's settings),
    # not written into each revision's SQL.
    "require-lock-timeout",
    "require-statement-timeout",
)


@dataclasses.dataclass(frozen=True)
class LintFinding:
    """One squawk finding in one revision's upgrade SQL."""

    revision: str
    rule: str
    message: str
    line: int
    statement: str
    exempt_because: str | None = None

    def describe(self) -> str:
        """``rule (line N): message`` and the statement, for a person."""
        return f"{self.rule} (line {self.line}): {self.message}\n    {self.statement}"


def squawk_binary() -> str:
    """The squawk executable: next to this Python first (a venv), then on PATH."""
    beside = Path(sys.executable).parent / ("squawk.exe" if sys.platform == "win32" else "squawk")
    if beside.is_file():
        return str(beside)
    found = shutil.which("squawk")
    if found is None:
        raise ConfigurationError(
            "squawk is not installed, so migration SQL cannot be linted: run "
            "`pip install squawk-cli` (nox -s migrate-roundtrip installs it)"
        )
    return found


def exemptions_of(revision: Script) -> dict[str, str]:
    """The revision's ``squawk_exemptions``: rule name -> why it is safe; checked for shape."""
    raw: Any = getattr(revision.module, "squawk_exemptions", {})
    if not isinstance(raw, Mapping) or not all(
        isinstance(rule, str) and isinstance(why, str) and why.strip() for rule, why in raw.items()
    ):
        raise MigrationCheckError(
            f"revision {revision.revision}: squawk_exemptions must map each rule name to the "
            "reason it is safe, e.g. {'adding-not-nullable-field': 'the table is new'}"
        )
    return dict(raw)


def revision_sql(script: ScriptDirectory, revision: Script, url: URL | str) -> str:
    """Alembic's offline SQL for ``revision``'s upgrade step alone, as squawk should see it."""
    buffer = io.StringIO()
    config = alembic_config(Settings.from_values())
    config.attributes["url"] = url
    config.output_buffer = buffer
    starting = list(revision._normalized_down_revisions) or None

    def one_step(rev: Any, context: MigrationContext) -> list[Any]:
        return [MigrationStep.upgrade_from_script(script.revision_map, revision)]

    with EnvironmentContext(
        config,
        script,
        fn=one_step,
        as_sql=True,
        starting_rev=starting,
        destination_rev=revision.revision,
    ):
        script.run_env()
    return _without_bookkeeping(buffer.getvalue())


def _without_bookkeeping(sql: str) -> str:
    """Drop the transaction wrapper and the version-table statements Alembic adds."""
    kept: list[str] = []
    for chunk in sql.split(";\n"):
        lines = chunk.strip().splitlines()
        kept.extend(line for line in lines if line.startswith("--"))
        body = "\n".join(line for line in lines if not line.startswith("--")).strip()
        if body and body.upper() not in {"BEGIN", "COMMIT"} and "alembic_version" not in body:
            kept.append(body + ";")
    return "\n\n".join(kept) + "\n"


def _statement_at(sql: str, line: int) -> str:
    """The text on 1-based ``line`` of ``sql``."""
    lines = sql.splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def lint_revisions(
    script: ScriptDirectory,
    revisions: Iterable[Script],
    *,
    url: URL | str,
    pg_major: int,
) -> list[LintFinding]:
    """Lint each revision's upgrade SQL with squawk in one run; exempt findings are marked.

    Merge revisions with no SQL of their own are skipped. Unknown exemption
    rules raise, so a typo cannot silence nothing while looking like it silences.
    """
    binary = squawk_binary()
    revisions = list(revisions)
    _check_rule_names(binary, {rule for rev in revisions for rule in exemptions_of(rev)})
    with tempfile.TemporaryDirectory(prefix="bot-db-squawk-") as folder:
        files: dict[str, tuple[Script, str]] = {}
        for revision in revisions:
            sql = revision_sql(script, revision, url)
            if not sql.strip() or all(
                line.startswith("--") for line in sql.splitlines() if line.strip()
            ):
                continue
            path = Path(folder) / f"{revision.revision}.sql"
            path.write_text(sql, encoding="utf-8")
            files[str(path)] = (revision, sql)
        if not files:
            return []
        raw = _run_squawk(binary, list(files), pg_major)
    findings: list[LintFinding] = []
    for item in raw:
        revision, sql = files[str(item["file"])]
        exemptions = exemptions_of(revision)
        line = int(item.get("line") or 0) + 1  # squawk's JSON counts lines from 0
        findings.append(
            LintFinding(
                revision=revision.revision,
                rule=str(item["rule_name"]),
                message=str(item["message"]),
                line=line,
                statement=_statement_at(sql, line),
                exempt_because=exemptions.get(str(item["rule_name"])),
            )
        )
    return findings


def _check_rule_names(binary: str, rules: set[str]) -> None:
    """Raise when an exemption names a rule squawk does not know (a typo exempts nothing)."""
    if not rules:
        return
    result = subprocess.run(
        [binary, f"--exclude={','.join(sorted(rules))}"],
        input="SELECT 1;\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise MigrationCheckError(
            f"a squawk_exemptions entry names an unknown rule: {detail[0] if detail else ''}; "
            "use the rule name squawk prints"
        )


def _run_squawk(binary: str, paths: Sequence[str], pg_major: int) -> list[dict[str, Any]]:
    command = [
        binary,
        "--reporter",
        "json",
        "--assume-in-transaction",
        f"--pg-version={pg_major}.0",
        f"--exclude={','.join(EXCLUDED_RULES)}",
        *paths,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    try:
        # Exit 0: nothing found; 1: findings. Anything else is squawk failing.
        if result.returncode not in (0, 1):
            raise ValueError(result.returncode)
        parsed: Any = json.loads(result.stdout or "[]")
    except (ValueError, json.JSONDecodeError):
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise MigrationCheckError(
            f"squawk failed (exit {result.returncode}): {detail[0] if detail else 'no output'}; "
            "check that squawk-cli runs here (`squawk --version`)"
        ) from None
    if not isinstance(parsed, list):
        raise MigrationCheckError("squawk printed an unexpected report; update squawk-cli")
    return [item for item in parsed if isinstance(item, dict)]
