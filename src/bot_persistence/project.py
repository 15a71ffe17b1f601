"""Where the project's own files are: ``alembic.ini``, ``seeds/`` and ``.psqlrc``.

The commands run from a checkout of the repository (the package is installed
editable by nox). We look in the current directory and its parents first, so a
contributor can run ``bot-db`` from any sub-directory, then next to the source.
"""

from __future__ import annotations

from pathlib import Path

from bot_persistence.errors import ConfigurationError

__all__ = ["alembic_ini", "env_file", "project_root", "psqlrc", "seeds_dir", "versions_dir"]


def _is_root(candidate: Path) -> bool:
    return (candidate / "alembic.ini").is_file() and (candidate / "alembic" / "env.py").is_file()


def project_root(start: Path | None = None) -> Path:
    """The checkout holding ``alembic.ini`` and ``alembic/``; one line of help when absent."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if _is_root(candidate):
            return candidate
    beside_source = Path(__file__).resolve().parents[2]
    if _is_root(beside_source):
        return beside_source
    raise ConfigurationError(
        f"cannot find alembic.ini in {here} or its parents; run bot-db from a checkout "
        "of the bot-persistence repository"
    )


def env_file(start: Path | None = None) -> Path:
    """The ``.env`` to read: the project root's when run anywhere inside a checkout.

    ``bot-db check`` from ``docs/`` then reads the same ``.env`` as from the
    root. Outside a checkout it is the current directory's, as before (the
    installed wheel has no root of its own to fall back to here).
    """
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if _is_root(candidate):
            return candidate / ".env"
    return here / ".env"


def alembic_ini(root: Path | None = None) -> Path:
    """The Alembic configuration file at the project root."""
    return (root or project_root()) / "alembic.ini"


def seeds_dir(root: Path | None = None) -> Path:
    """The folder of seed data files."""
    return (root or project_root()) / "seeds"


def psqlrc(root: Path | None = None) -> Path:
    """The project's psql start-up file, used by ``bot-db shell``."""
    return (root or project_root()) / ".psqlrc"


def versions_dir(root: Path | None = None) -> Path:
    """The folder of migration revision files."""
    return (root or project_root()) / "alembic" / "versions"
