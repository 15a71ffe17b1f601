"""``bot-db``: the development database from the command line.

``_main`` is the edge (arguments, settings, errors to one line and an exit
code), ``_parser`` the tables of shared options and commands, ``_commands``
what every subcommand shares, ``_server_commands``, ``_schema_commands``,
``_snapshot_commands`` and ``_branch_commands`` one function per subcommand,
grouped by job, ``_meta`` the commands about bot-db itself (``help``,
``completion``), ``output`` how lines and progress reach a person or a machine.
They load on first use, so that :func:`run` can set up signal
handling before the heavy imports (``_signals``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot_persistence.cli import _signals
from bot_persistence.exports import lazy_exports

if TYPE_CHECKING:
    from bot_persistence.cli._main import main
    from bot_persistence.cli._parser import build_parser

__all__ = ["build_parser", "main", "run"]

_LAZY = {"main": "bot_persistence.cli._main", "build_parser": "bot_persistence.cli._parser"}


def run() -> None:
    """Console-script entry point: an interrupt while loading is one line too."""
    _signals.install()
    try:
        from bot_persistence.cli._main import run as run_main
    except BaseException as exc:
        interrupt = _signals.signal_behind(exc)
        if interrupt is None:
            raise
        _signals.stop(interrupt)
    run_main()


__getattr__ = lazy_exports(__name__, _LAZY)
