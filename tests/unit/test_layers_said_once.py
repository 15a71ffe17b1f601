"""The import layers are said once, in pyproject's import-linter contract; the docs agree.

The README's sentence and ``docs/design.md``'s drawing name the same layers,
in the same order, as the contract ``nox -s lint`` enforces, and say there
is one exception where the contract ignores one import.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _listed(key: str) -> list[str]:
    """The strings of a list in pyproject's import-linter contract (read as text: the
    contract is one flat list per key, and tomllib is not in Python 3.10)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    contract = text[text.index("[[tool.importlinter.contracts]]") :]
    found = re.search(rf"^{key} = \[(.*?)^\]", contract, re.S | re.M)
    assert found is not None, key
    lines = [line.split("#", 1)[0] for line in found[1].splitlines()]
    return re.findall(r'"([^"]+)"', "\n".join(lines))


def _layers() -> list[list[str]]:
    return [[name.strip() for name in layer.split("|")] for layer in _listed("layers")]


def test_the_readme_says_the_contracts_layers_in_order() -> None:
    sentence = " → ".join(", ".join(f"`{name}`" for name in layer) for layer in _layers())
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert f"Imports flow one way: {sentence}." in readme


def test_the_design_drawing_is_the_contracts_layers_top_to_bottom() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    drawing = re.search(r"## Imports flow one way\n\n```text\n(.*?)```", design, re.S)
    assert drawing is not None
    drawn = [[name.strip() for name in line.split(",")] for line in drawing[1].splitlines()]
    assert drawn == _layers()


def test_the_docs_count_the_exceptions_the_contract_ignores() -> None:
    assert len(_listed("ignore_imports")) == 1
    for doc in (ROOT / "README.md", ROOT / "docs" / "design.md"):
        assert "The one exception" in doc.read_text(encoding="utf-8"), doc
