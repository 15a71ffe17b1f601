"""Each revision's own SQL, linted by squawk for operations that lock or rewrite a busy table.

For every revision we render Alembic's offline (``--sql``) output of that one
upgrade step, not the whole history at once, so a finding points at the
revision that brings it. Alembic runs each revision inside a transaction
(``transaction_per_migration`` in ``alembic/env.py``), so each revision's SQL is
linted as one ``BEGIN`` ... ``COMMIT``, with the ``COMMIT``/``BEGIN`` pairs an
``autocommit_block`` writes inside it kept (:mod:`bot_persistence.migrations.safe`
builds an index CONCURRENTLY there, outside any transaction, as squawk then
sees); Alembic's own version-table bookkeeping is left out.

squawk's settings are squawk's own config file, ``.squawk.toml`` at the root:
the rules switched off (each with its reason) and the PostgreSQL version the
SQL is judged for.

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
import functools
import io
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic import op as alembic_op
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext, MigrationStep
from alembic.script import Script, ScriptDirectory
from sqlalchemy.engine import URL

from bot_persistence.errors import ConfigurationError, MigrationCheckError
from bot_persistence.migrations import alembic_config
from bot_persistence.project import squawk_config
from bot_persistence.settings import Settings

__all__ = [
    "RUN_PREAMBLE",
    "LintFinding",
    "PendingLint",
    "as_one_transaction",
    "exemptions_of",
    "revisions_sql",
    "squawk_binary",
    "start_lint",
    "without_bookkeeping",
]


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


#: What every migration run sends before a revision's SQL (:mod:`lock_retries`, with the
#: default BOT_DB_MIGRATION_LOCK_TIMEOUT_MS), so that squawk's ``require-lock-timeout``
#: rule judges what really runs.
RUN_PREAMBLE = f"SET lock_timeout = {Settings.model_fields['migration_lock_timeout_ms'].default};\n"


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


def revisions_sql(
    script: ScriptDirectory, order: Sequence[Script], url: URL | str
) -> dict[str, str]:
    """Each revision's own upgrade SQL, rendered in one offline run from base.

    ``order`` is every revision, ancestors first. Each step's output is cut out
    of the stream as it is written, so each revision gets exactly the SQL its
    upgrade emits, as ``alembic upgrade PARENT:REV --sql`` would print it.
    """
    buffer = io.StringIO()
    config = alembic_config(None)  # rendered offline: no server is asked
    config.attributes["url"] = url
    config.output_buffer = buffer
    written: dict[str, str] = {}

    def cut_out(revision: Script) -> MigrationStep:
        step = MigrationStep.upgrade_from_script(script.revision_map, revision)
        original = step.migration_fn

        @functools.wraps(original)
        def render(*args: Any, **kwargs: Any) -> None:
            # A named type is emitted once per run unless the DDL memo is cleared.
            alembic_op.get_context().impl.memo.clear()
            start = buffer.tell()
            original(*args, **kwargs)
            written[revision.revision] = as_one_transaction(
                without_bookkeeping(buffer.getvalue()[start:])
            )

        step.migration_fn = render
        return step

    steps = [cut_out(revision) for revision in order]

    def these_steps(rev: Any, context: MigrationContext) -> list[Any]:
        return steps

    with EnvironmentContext(
        config,
        script,
        fn=these_steps,
        as_sql=True,
        destination_rev=order[-1].revision,
    ):
        script.run_env()
    return written


def without_bookkeeping(sql: str) -> str:
    """Drop Alembic's version-table statements and the run's outer ``BEGIN``/``COMMIT``.

    A ``COMMIT`` ... ``BEGIN`` inside is kept: it is an ``autocommit_block``,
    whose statements run outside any transaction.
    """
    kept: list[str] = []
    bodies: list[int] = []
    for chunk in sql.split(";\n"):
        lines = chunk.strip().splitlines()
        kept.extend(line for line in lines if line.startswith("--"))
        body = "\n".join(line for line in lines if not line.startswith("--")).strip()
        if body and "alembic_version" not in body:
            bodies.append(len(kept))
            kept.append(body + ";")
    if bodies and kept[bodies[0]].upper() == "BEGIN;":
        del kept[bodies.pop(0)]
        bodies = [index - 1 for index in bodies]
    if bodies and kept[bodies[-1]].upper() == "COMMIT;":
        del kept[bodies.pop()]
    return "\n\n".join(kept) + "\n"


def as_one_transaction(sql: str) -> str:
    """One revision's SQL between ``BEGIN`` and ``COMMIT``, as the server runs it."""
    return f"BEGIN;\n\n{sql.rstrip()}\n\nCOMMIT;\n"


def _statement_at(sql: str, line: int) -> str:
    """The text on 1-based ``line`` of ``sql``."""
    lines = sql.splitlines()
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


class PendingLint:
    """A squawk run started in the background; :meth:`findings` waits for it.

    The SQL is rendered before squawk starts (Alembic's ``context`` proxy is
    process-wide, so rendering must not overlap a migration run); squawk itself
    runs alongside whatever the caller does next.
    """

    def __init__(
        self,
        folder: tempfile.TemporaryDirectory[str],
        files: dict[str, tuple[Script, str]],
        process: subprocess.Popen[str] | None,
    ) -> None:
        self._folder = folder
        self._files = files
        self._process = process

    def cancel(self) -> None:
        """Stop squawk and remove its files: the caller will not read the findings."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.communicate()
        self._folder.cleanup()

    def findings(self) -> list[LintFinding]:
        """Wait for squawk and return its findings, exempt ones marked."""
        try:
            if self._process is None:
                return []
            out, err = self._process.communicate(timeout=120)
            raw = _parse_report(self._process.returncode, out, err)
        finally:
            self._folder.cleanup()
        findings: list[LintFinding] = []
        for item in raw:
            revision, sql = self._files[str(item["file"])]
            line = int(item.get("line") or 0) + 1  # squawk's JSON counts lines from 0
            findings.append(
                LintFinding(
                    revision=revision.revision,
                    rule=str(item["rule_name"]),
                    message=str(item["message"]),
                    line=line,
                    statement=_statement_at(sql, line),
                    exempt_because=exemptions_of(revision).get(str(item["rule_name"])),
                )
            )
        return findings


def start_lint(
    script: ScriptDirectory,
    revisions: Iterable[Script],
    *,
    url: URL | str,
) -> PendingLint:
    """Render each revision's upgrade SQL and start squawk on all of them at once.

    Merge revisions with no SQL of their own are skipped. Unknown exemption
    rules raise, so a typo cannot look like it silences something.
    """
    binary = squawk_binary()
    revisions = list(revisions)
    _check_rule_names(binary, {rule for rev in revisions for rule in exemptions_of(rev)})
    folder = tempfile.TemporaryDirectory(prefix="bot-db-squawk-")
    files: dict[str, tuple[Script, str]] = {}
    try:
        rendered = revisions_sql(script, revisions, url) if revisions else {}
        for revision in revisions:
            sql = rendered[revision.revision]
            if all(
                line.startswith("--") or line in ("BEGIN;", "COMMIT;")
                for line in sql.splitlines()
                if line.strip()
            ):
                continue  # nothing but Alembic's comment: a merge revision, say
            # Linted as the runner sends it: after the run's own timeouts.
            sql = RUN_PREAMBLE + sql
            path = Path(folder.name) / f"{revision.revision}.sql"
            path.write_text(sql, encoding="utf-8")
            files[str(path)] = (revision, sql)
        process = None
        if files:
            process = subprocess.Popen(
                [
                    binary,
                    "--reporter",
                    "json",
                    f"--config={squawk_config()}",
                    *files,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                encoding="utf-8",
                errors="backslashreplace",  # a path or message need not be UTF-8
            )
    except BaseException:
        folder.cleanup()
        raise
    return PendingLint(folder, files, process)


def _check_rule_names(binary: str, rules: set[str]) -> None:
    """Raise when an exemption names a rule squawk does not know (a typo exempts nothing)."""
    if not rules:
        return
    result = subprocess.run(
        [binary, f"--exclude={','.join(sorted(rules))}"],
        input="SELECT 1;\n",
        capture_output=True,
        encoding="utf-8",
        errors="backslashreplace",  # a path or message need not be UTF-8
        check=False,
        timeout=60,
    )
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise MigrationCheckError(
            f"a squawk_exemptions entry names an unknown rule: {detail[0] if detail else ''}; "
            "use the rule name squawk prints"
        )


def _parse_report(returncode: int, out: str, err: str) -> list[dict[str, Any]]:
    try:
        # Exit 0: nothing found; 1: findings. Anything else is squawk failing.
        if returncode not in (0, 1):
            raise ValueError(returncode)
        parsed: Any = json.loads(out or "[]")
    except (ValueError, json.JSONDecodeError):
        detail = (err or out).strip().splitlines()
        raise MigrationCheckError(
            f"squawk failed (exit {returncode}): {detail[0] if detail else 'no output'}; "
            "check that squawk-cli runs here (`squawk --version`)"
        ) from None
    if not isinstance(parsed, list):
        raise MigrationCheckError("squawk printed an unexpected report; update squawk-cli")
    return [item for item in parsed if isinstance(item, dict)]
