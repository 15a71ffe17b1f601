"""``python -m bot_persistence.devtools.docs_check``: what ``nox -s docs-check`` runs."""

import sys

from bot_persistence.devtools.docs_check.cli import main

sys.exit(main())
