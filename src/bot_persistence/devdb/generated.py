"""Blocks of the docs that code writes, kept true by cogapp (``cog -r``).

A generated block in a Markdown page is a cog block in HTML comments, so a
reader sees only its output::

    <!-- [[[cog import bot_persistence.devdb.erd as erd; cog.out(erd.diagram_block()) ]]] -->
    ...what the code printed...
    <!-- [[[end]]] -->

``regenerate`` rewrites a page in place (what ``cog -r PAGE`` does), which
``bot-db erd --write`` and ``nox -s docs-check -- --fix`` call; ``generate``
returns what the page would become, which docs-check compares with the page
to fail on drift. cogapp is the docs tooling's dependency (the ``docs``
extra), imported only here and only when a page is generated.
"""

from __future__ import annotations

from pathlib import Path

from bot_persistence.errors import ConfigurationError

__all__ = ["BEGIN", "END", "generate", "has_blocks", "regenerate"]

#: How cog finds a block: its code starts after ``BEGIN``, its output ends at ``END``.
BEGIN = "[[[cog"
END = "[[[end]]]"


def has_blocks(text: str) -> bool:
    """True when ``text`` holds at least one cog block."""
    return BEGIN in text and END in text


def generate(path: Path, text: str | None = None) -> str:
    """``path``'s text (or ``text``) with every cog block's output made again by its code.

    A block whose code fails is a ConfigurationError naming the page and cog's
    message; the page is not touched.
    """
    try:
        from cogapp import Cog
        from cogapp.cogapp import CogError
    except ImportError:  # pragma: no cover - the docs extra is part of the dev install
        raise ConfigurationError(
            "generating the docs' blocks needs cogapp; install the docs extra: "
            "pip install -e '.[docs]'"
        ) from None
    source = path.read_text(encoding="utf-8") if text is None else text
    try:
        return str(Cog().process_string(source, fname=str(path)))
    except CogError as exc:
        last = str(exc).strip().splitlines()[-1:] or [type(exc).__name__]
        raise ConfigurationError(f"{path}: a generated block failed: {last[0]}") from None


def regenerate(path: Path) -> bool:
    """Rewrite ``path``'s cog blocks from their code; True when the page changed."""
    text = path.read_text(encoding="utf-8")
    new = generate(path, text)
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True
