"""Every error class has a troubleshooting entry whose heading names it."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from pathlib import Path

from bot_persistence import errors
from bot_persistence.devtools.docs_check.markdown import Document
from bot_persistence.devtools.docs_check.problem import Problem, source_line

__all__ = ["check_troubleshooting", "error_classes"]


def error_classes() -> list[type[errors.BotPersistenceError]]:
    """Every error class ``errors.py`` exports."""
    classes = [getattr(errors, name) for name in errors.__all__]
    return [c for c in classes if isinstance(c, type) and issubclass(c, errors.BotPersistenceError)]


def check_troubleshooting(
    doc: Path,
    classes: Iterable[type[BaseException]] | None = None,
    *,
    shown_as: Path | None = None,
) -> list[Problem]:
    """Every error class has an entry in ``doc`` whose heading contains its name."""
    label = shown_as or doc
    wanted = list(classes) if classes is not None else list(error_classes())
    if not doc.is_file():
        return [Problem(label, 1, "the troubleshooting page is missing")]
    headings = [h.text for h in Document(doc.read_text(encoding="utf-8")).headings()]
    problems: list[Problem] = []
    for cls in wanted:
        pattern = re.compile(rf"\b{re.escape(cls.__name__)}\b")
        if not any(pattern.search(h) for h in headings):
            source = Path(inspect.getfile(cls))
            problems.append(
                Problem(
                    source,
                    source_line(source, f"class {cls.__name__}("),
                    f"{cls.__name__} has no entry in {label}; add a heading naming it, "
                    "with what the message means and the fix",
                )
            )
    return problems
