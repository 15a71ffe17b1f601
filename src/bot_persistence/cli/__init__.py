"""``bot-db``: the development database from the command line.

``_main`` is the edge (arguments, settings, errors to one line and an exit
code), ``_parser`` the tables of shared options and commands, ``_commands``
one function per subcommand, ``_meta`` the commands about bot-db itself
(``help``, ``completion``), ``output`` how lines and progress reach a person
or a machine.
"""

from bot_persistence.cli._main import main, run
from bot_persistence.cli._parser import build_parser

__all__ = ["build_parser", "main", "run"]
