"""``python -m bot_persistence``: the same as ``bot-db``."""

from bot_persistence.cli import run

run()
