"""docs-check's code blocks: markers read as written, and a failing block is reported."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot_persistence.devtools.docs_check.blocks import check_blocks, read_page
from bot_persistence.devtools.docs_check.transcript import run_page

PAGE = """# A page

<!-- docs-check: setup: echo ready > setup.txt -->

```sh
echo plain
```

<!-- docs-check: exit 2; prints "no-such-file" -->
```sh
ls no-such-file
```

<!-- docs-check: not runnable here: it opens an interactive psql -->
```sh
psql
```

<!-- docs-check: run by page.md -->
```python
print("run elsewhere")
```

```json
{"not": "code a reader runs"}
```

```
output, or a diagram: a fence without a language is not run
```
"""


def page(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "page.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_markers_say_how_each_block_is_run(tmp_path: Path) -> None:
    read = read_page(page(tmp_path, PAGE), tmp_path)
    assert [(b.how, b.language) for b in read.blocks] == [
        ("run", "shell"),
        ("run", "shell"),
        ("shown", "shell"),
        ("elsewhere", "python"),
    ]
    assert read.blocks[1].exit_code == 2
    assert read.blocks[1].prints == ("no-such-file",)
    assert read.blocks[2].note == "it opens an interactive psql"
    assert read.setup == ("echo ready > setup.txt",)
    assert read.problems == ()


@pytest.mark.parametrize(
    ("marker", "problem"),
    [
        ("not runnable here", "needs the reason"),
        ("run by tests/nowhere.py", "no such file"),
        ("exit one", "unknown docs-check marker"),
    ],
    ids=["no-reason", "missing-runner", "unknown"],
)
def test_a_marker_that_cannot_be_read_is_a_problem(
    tmp_path: Path, marker: str, problem: str
) -> None:
    path = page(tmp_path, f"<!-- docs-check: {marker} -->\n```sh\ntrue\n```\n")
    (found,) = check_blocks(path, tmp_path)
    assert found.line == 1
    assert problem in found.message


def test_a_marker_away_from_its_block_is_a_problem(tmp_path: Path) -> None:
    path = page(tmp_path, "<!-- docs-check: exit 1 -->\n\nSome prose.\n\n```sh\nfalse\n```\n")
    (found,) = check_blocks(path, tmp_path)
    assert "right before a block" in found.message


def checkout(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "README.md").write_text(text, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def test_blocks_run_in_order_in_a_copy_and_pass(tmp_path: Path) -> None:
    root = checkout(tmp_path, PAGE + "\n```sh\ntest -f setup.txt && ! test -e ../README.md\n```\n")
    assert run_page(root / "README.md", root) == []
    assert not (root / "setup.txt").exists()  # the copy, not the checkout


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("```sh\necho partial; exit 3\n```", "shell block exited 3, not 0: partial"),
        ('<!-- docs-check: prints "hello" -->\n```sh\necho bye\n```', "did not print 'hello'"),
        ("```python\nraise SystemExit(2)\n```", "python block exited 2, not 0"),
    ],
    ids=["exit-code", "missing-line", "python"],
)
def test_a_failing_block_is_reported_at_its_line(tmp_path: Path, block: str, message: str) -> None:
    root = checkout(tmp_path, f"# Title\n\n{block}\n")
    (problem,) = run_page(root / "README.md", root)
    assert problem.line in (3, 4)
    assert message in problem.message
