"""Prove the docs tell the truth: ``nox -s docs-check`` runs this package.

Docs rot silently: a renamed option, a removed nox session, a new setting
nobody wrote down. Each check compares what the docs say with what the code
has *now* and reports every disagreement as ``file:line: what is wrong; what
to do``. One module per job:

- ``markdown``: reading Markdown (markdown-it-py) into code blocks, spans, links, headings;
- ``commands``: every ``bot-db``, ``nox``, ``make`` and ``./dev-env.sh`` command shown exists;
- ``links``: every internal link (file and ``#anchor``) resolves;
- ``env_example``: ``.env.example`` and ``Settings`` name the same variables and defaults;
- ``generated``: the cog-generated blocks (ER diagram, command table) are current;
- ``troubleshooting``: every error class has an entry whose heading names it;
- ``layout``: the README's Layout section matches the package tree;
- ``blocks``: each code block is runnable or says why not (markers read cleanly);
- ``transcript``: running a page's blocks in a temporary copy of the checkout (``--run``);
- ``cli``: the command line (``--fix`` regenerates the generated blocks first).
"""

from bot_persistence.devtools.docs_check.cli import default_docs, main, run_checks
from bot_persistence.devtools.docs_check.commands import (
    check_commands,
    check_script_commands,
    check_words,
)
from bot_persistence.devtools.docs_check.env_example import check_env_example
from bot_persistence.devtools.docs_check.generated import (
    check_erd,
    check_generated,
    fix_generated,
)
from bot_persistence.devtools.docs_check.layout import check_layout
from bot_persistence.devtools.docs_check.links import anchors, check_links
from bot_persistence.devtools.docs_check.problem import Problem
from bot_persistence.devtools.docs_check.troubleshooting import (
    check_troubleshooting,
    error_classes,
)

__all__ = [
    "Problem",
    "anchors",
    "check_commands",
    "check_env_example",
    "check_erd",
    "check_generated",
    "check_layout",
    "check_links",
    "check_script_commands",
    "check_troubleshooting",
    "check_words",
    "default_docs",
    "error_classes",
    "fix_generated",
    "main",
    "run_checks",
]
