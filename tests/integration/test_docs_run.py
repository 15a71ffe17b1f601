"""Every runnable code block of the docs runs, page by page, in a temporary copy of the checkout.

What a block must do is said by the HTML comment before it (see
bot_persistence.devtools.docs_check.blocks); a block marked not runnable here
says why. Run by `nox -s docs-check` (marker `docs`), not once per Python.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot_persistence.devtools.docs_check.blocks import read_page
from bot_persistence.devtools.docs_check.cli import default_docs
from bot_persistence.devtools.docs_check.transcript import run_page
from bot_persistence.project import project_root

pytestmark = [pytest.mark.integration, pytest.mark.docs]

ROOT = project_root()
PAGES = [page for page in default_docs(ROOT) if read_page(page, ROOT).runnable]


def test_some_pages_have_runnable_blocks() -> None:
    assert len(PAGES) >= 3


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_the_runnable_blocks_of_a_page_run(page: Path) -> None:
    problems = run_page(page, ROOT, shown_as=page.relative_to(ROOT))
    assert problems == [], "\n".join(map(str, problems))
