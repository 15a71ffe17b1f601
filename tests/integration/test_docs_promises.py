"""What the docs promise a user, run where the user stands: a fresh copy of the checkout.

Each test is a transcript: the commands a reader types, their exit codes and
the lines they must print. Run by `nox -s docs-check` (marker `docs`).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from bot_persistence.devtools.docs_check.blocks import read_page
from bot_persistence.devtools.docs_check.markdown import Document
from bot_persistence.devtools.docs_check.transcript import checkout_copy, reader_env, run
from bot_persistence.project import project_root
from bot_persistence.provision.base import free_port
from bot_persistence.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.docs]

ROOT = project_root()


def install_line_of_testing_md() -> str:
    """The install command docs/testing.md gives, as written there."""
    text = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    spans = [span for _, span in Document(text).code_spans() if span.startswith("pip install")]
    assert spans, "docs/testing.md no longer says how to install the plugin"
    return spans[0]


def test_testing_md_install_then_pytest_in_the_repository(
    tmp_path: Path, db_server: Settings
) -> None:
    """`pip install -e '.[embedded,testing]'`, then `pytest --help` and a test file of one's own.

    Nothing else installed: no hypothesis, no sybil, no pytest-alembic (the
    suite's own groups). The reader's file sits beside the suite, in tests/.
    Its databases are made on this run's server (`DATABASE_URL`, the plugin's
    external backend): the promise is about the install, not a second initdb.
    """
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("needs uv to make the environment quickly (pip install uv)")
    install = install_line_of_testing_md()
    extras = re.search(r"\.\[([\w,]+)\]", install)
    assert install.startswith("pip install -e") and extras is not None, install
    with checkout_copy(ROOT) as copy:
        env = reader_env(os.environ, port=free_port())
        venv = tmp_path / "venv"
        python = str(venv / "bin" / "python")
        made = run([uv, "venv", "-q", "-p", sys.executable, str(venv)], copy, env)
        assert made.exit_code == 0, made.output
        # uv's pip, not pip: the same install, from the cache.
        done = run(
            [uv, "pip", "install", "-q", "-p", python, "-e", f".[{extras.group(1)}]"], copy, env
        )
        assert done.exit_code == 0, done.output
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env["PATH"]])
        helped = run(["pytest", "--help"], copy, env)
        assert helped.exit_code == 0, helped.tail()
        assert "--db-pg" in helped.stdout
        first_example = next(b for b in read_page(ROOT / "docs" / "testing.md", ROOT).blocks)
        (copy / "tests" / "test_mine.py").write_text(first_example.source, encoding="utf-8")
        env["DATABASE_URL"] = db_server.plain_url
        ran = run(["pytest", "tests/test_mine.py", "-p", "no:cacheprovider", "-q"], copy, env)
        assert ran.exit_code == 0, ran.tail(12)
        assert "Unknown config option" not in ran.output
        assert "1 passed" in ran.stdout


def test_bot_db_check_from_a_subfolder_uses_the_root_settings_and_server() -> None:
    """README: bot-db reads the root's .env from any folder (`cd docs && bot-db check`)."""
    with checkout_copy(ROOT) as copy:
        env = reader_env(os.environ, port=free_port())
        try:
            up = run(["bot-db", "up"], copy, env)
            assert up.exit_code == 0, up.tail()
            checked = run(["bash", "-c", "cd docs && bot-db check"], copy, env)
            assert checked.exit_code == 0, checked.tail()
            assert "another checkout" not in checked.output
            assert not (copy / "docs" / ".devdb").exists()  # no stray lock or data there
        finally:
            run(["bot-db", "down"], copy, env, timeout=60)
