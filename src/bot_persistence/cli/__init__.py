"""``bot-db``: the development database from the command line.

``_main`` is the edge (arguments, settings, errors to one line and an exit
code), ``_parser`` the option table, ``_commands`` one function per
subcommand, ``output`` how lines reach a person or a machine.
"""

from bot_persistence.cli._main import main, run
from bot_persistence.cli._parser import build_parser

__all__ = ["build_parser", "main", "run"]
