"""Alembic's entry point: the target is Settings' database, the models are the truth.

A caller may hand over where to migrate in ``config.attributes["connection"]``,
the convention the Alembic cookbook and pytest-alembic share: a ``Connection``
is used as it is, and its owner commits (``bot-db`` passes one so that it can
hold the migration advisory lock on it); an ``Engine`` lends a connection for
the run, committed here (pytest-alembic passes its ``alembic_engine``). With
neither, as for the plain ``alembic`` command, the URL comes from Settings.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.pool import NullPool

from bot_persistence.models import Base
from bot_persistence.settings import Settings

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

_OPTIONS: dict[str, Any] = {
    "target_metadata": target_metadata,
    "compare_type": True,
    "compare_server_default": True,
    # One transaction per revision: a failure leaves the database at the
    # revision before the one that failed (PostgreSQL has transactional DDL).
    "transaction_per_migration": True,
}


def run_offline() -> None:
    """Emit SQL instead of running it (``alembic upgrade --sql``)."""
    url = config.attributes.get("url") or Settings().url
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection: Connection) -> None:
    context.configure(connection=connection, **_OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run against a live database: the caller's connection or engine, else Settings'."""
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run_on(given)
        return
    engine = (
        given if isinstance(given, Engine) else create_engine(Settings().url, poolclass=NullPool)
    )
    try:
        with engine.connect() as conn:
            _run_on(conn)
            conn.commit()
    finally:
        if engine is not given:
            engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
