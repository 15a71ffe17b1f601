"""Public names a package loads on first use (PEP 562), said the same way everywhere.

``bot_persistence`` keeps the async data layer and ``Settings`` out of
``import bot_persistence``, ``devdb`` keeps ``lifecycle`` out of ``from
bot_persistence.devdb import health``, and ``cli`` keeps the command modules
out of the entry point until its signal handling is up: each declares which
names live where, and :func:`lazy_exports` is its module ``__getattr__``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing ``homes[name]`` when ``name`` is first asked for.

    The value is kept on the package, so the import runs once; a name not in
    ``homes`` is the usual AttributeError.
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
