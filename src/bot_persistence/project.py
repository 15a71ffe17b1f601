"""Where the project's own files are: ``alembic.ini``, ``alembic/``, ``seeds/``, ``.psqlrc``.

This module is the one place that finds them. Two places can hold them:

- a checkout of the repository: the current directory or one of its parents
  (a contributor may run ``bot-db`` from any sub-directory), or the checkout
  beside the source of an editable install. A checkout wins, so a migration
  being written is the one that runs.
- the installed package: the wheel carries copies under
  ``bot_persistence/_data/`` (``pyproject.toml`` puts them there from the
  top-level folders), which is how the bot and ``bot-db`` work from
  ``pip install`` in an empty directory.

The bot itself (``Database``) reads only the package's (:func:`package_root`):
a bot started inside some checkout compares its schema with its own
migrations, not with that checkout's.

Neither present means a wheel built without its data: a typed error says so.
"""

from __future__ import annotations

from pathlib import Path

from bot_persistence.errors import ConfigurationError, PackageDataMissingError

__all__ = [
    "PACKAGE_DATA",
    "alembic_ini",
    "checkout_root",
    "env_file",
    "package_root",
    "project_root",
    "psqlrc",
    "seeds_dir",
    "squawk_config",
    "versions_dir",
]

#: The package's own copy of the migrations, seeds and ``.psqlrc`` (in a wheel).
PACKAGE_DATA = Path(__file__).resolve().parent / "_data"


def _is_root(candidate: Path) -> bool:
    return (candidate / "alembic.ini").is_file() and (candidate / "alembic" / "env.py").is_file()


def _checkout(start: Path | None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if _is_root(candidate):
            return candidate
    beside_source = Path(__file__).resolve().parents[2]
    return beside_source if _is_root(beside_source) else None


def checkout_root(start: Path | None = None) -> Path:
    """The repository checkout, for what only a checkout has (docs, compose files)."""
    found = _checkout(start)
    if found is None:
        here = (start or Path.cwd()).resolve()
        raise ConfigurationError(
            f"no checkout of the bot-persistence repository in {here} or its parents; "
            "run this command inside one"
        )
    return found


def project_root(start: Path | None = None, *, data: Path | None = None) -> Path:
    """The folder holding ``alembic.ini``, ``alembic/`` and ``seeds/``: checkout, else package.

    For the tooling, where a migration being written is the one that runs.
    ``data`` replaces the package's copy (tests of a broken build use it).
    """
    found = _checkout(start)
    return found if found is not None else package_root(data=data)


def package_root(*, data: Path | None = None) -> Path:
    """The migrations and seeds this installed package carries; never the working directory's.

    What the bot compares its database with and migrates by: the wheel's copy,
    or the checkout beside the source of an editable install. A bot started
    inside some other checkout is still this package's bot.
    """
    packaged = PACKAGE_DATA if data is None else data
    if _is_root(packaged) and (packaged / "alembic" / "versions").is_dir():
        return packaged
    beside_source = Path(__file__).resolve().parents[2]
    if data is None and _is_root(beside_source):
        return beside_source
    raise PackageDataMissingError(
        f"the installed bot_persistence has no migrations ({packaged / 'alembic'} is "
        "missing): the wheel was built without them; reinstall from a wheel built by "
        "`uv build` in the repository, or run from a checkout"
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
    """The Alembic configuration file."""
    return (root or project_root()) / "alembic.ini"


def seeds_dir(root: Path | None = None) -> Path:
    """The folder of seed data files."""
    return (root or project_root()) / "seeds"


def psqlrc(root: Path | None = None) -> Path:
    """The project's psql start-up file, used by ``bot-db shell``."""
    return (root or project_root()) / ".psqlrc"


def squawk_config(root: Path | None = None) -> Path:
    """squawk's settings for our migrations (rules off, PostgreSQL version, transactions)."""
    return (root or project_root()) / ".squawk.toml"


def versions_dir(root: Path | None = None) -> Path:
    """The folder of migration revision files."""
    return (root or project_root()) / "alembic" / "versions"
