"""With ``--json``, standard output carries the document alone, whoever else writes there."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import subprocess, sys
    from bot_persistence.cli.output import Console, document_only

    console = Console(sys.stdout, json_mode=sys.argv[1] == "json")
    with document_only(console):
        print("Generating /tmp/x.py ...  done")            # Alembic's progress
        subprocess.run(["sh", "-c", "echo 1 file reformatted"], check=True)  # ruff, psql
        console.line("a line for people")
        console.json({"path": "/tmp/x.py"})
    print("after the command")
    """
)


def run(mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, mode],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_json_mode_keeps_stdout_for_the_document_and_sends_the_rest_to_stderr() -> None:
    done = run("json")
    document, _, rest = done.stdout.partition("}\n")
    assert json.loads(document + "}") == {"path": "/tmp/x.py"}
    assert rest == "after the command\n"  # standard output is back once the command is done
    assert "Generating /tmp/x.py" in done.stderr and "1 file reformatted" in done.stderr
    assert "a line for people" not in done.stdout + done.stderr


def test_without_json_nothing_is_moved() -> None:
    done = run("people")
    assert "Generating /tmp/x.py" in done.stdout and "1 file reformatted" in done.stdout
    assert "a line for people" in done.stdout and done.stderr == ""
