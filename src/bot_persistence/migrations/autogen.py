"""What ``bot-db revision`` writes: autogenerate's draft, with the safe patterns where it can.

Autogenerate writes ``op.create_index(...)`` for a new index, which takes a
SHARE lock on the table for the whole build: every write of the bot waits.
:func:`process_revision_directives` (hooked in by ``alembic/env.py``) turns
each index created on, or dropped from, a table that already exists into
:func:`bot_persistence.migrations.safe.create_index_concurrently` /
:func:`~bot_persistence.migrations.safe.drop_index_concurrently`, in the
upgrade and the downgrade alike. An index on a table the same revision creates
(or drops) is left alone: nobody uses that table yet, and a plain build inside
the revision's transaction is the faster and atomic choice.

Only plain column indexes are rewritten; an expression or partial index, or
one with dialect options, stays as autogenerate wrote it, and the roundtrip's
squawk lint names it for a reviewer (docs/migrations.md shows the helper call).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alembic.autogenerate import renderers
from alembic.autogenerate.api import AutogenContext
from alembic.operations import ops
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column

__all__ = [
    "CreateIndexConcurrentlyOp",
    "DropIndexConcurrentlyOp",
    "process_revision_directives",
    "safer_ops",
]

_IMPORT = "from bot_persistence.migrations import safe"


class CreateIndexConcurrentlyOp(ops.CreateIndexOp):
    """An index built CONCURRENTLY, rendered as a call of ``safe.create_index_concurrently``."""


class DropIndexConcurrentlyOp(ops.DropIndexOp):
    """An index dropped CONCURRENTLY, rendered as a call of ``safe.drop_index_concurrently``."""


def _plain_columns(op: ops.CreateIndexOp) -> list[str] | None:
    """The column names of a plain column index; None for expressions or dialect options."""
    if op.kw:
        return None
    names: list[str] = []
    for column in op.columns:
        if isinstance(column, str):
            names.append(column)
        elif isinstance(column, Column):
            names.append(column.name)
        else:
            return None
    return names


@renderers.dispatch_for(CreateIndexConcurrentlyOp)
def _render_create(autogen_context: AutogenContext, op: CreateIndexConcurrentlyOp) -> str:
    autogen_context.imports.add(_IMPORT)
    columns = _plain_columns(op) or []
    schema = f", schema={op.schema!r}" if op.schema else ""
    unique = ", unique=True" if op.unique else ""
    return (
        f"safe.create_index_concurrently({str(op.index_name)!r}, {op.table_name!r}, "
        f"{columns!r}{unique}{schema})"
    )


@renderers.dispatch_for(DropIndexConcurrentlyOp)
def _render_drop(autogen_context: AutogenContext, op: DropIndexConcurrentlyOp) -> str:
    autogen_context.imports.add(_IMPORT)
    schema = f", schema={op.schema!r}" if op.schema else ""
    return f"safe.drop_index_concurrently({str(op.index_name)!r}, {op.table_name!r}{schema})"


def _tables_made_or_dropped(entries: Iterable[ops.MigrateOperation]) -> set[str]:
    found: set[str] = set()
    for entry in entries:
        if isinstance(entry, ops.CreateTableOp | ops.DropTableOp):
            found.add(entry.table_name)
        elif isinstance(entry, ops.OpContainer):
            found |= _tables_made_or_dropped(entry.ops)
    return found


def _concurrent(entry: ops.MigrateOperation, fresh: set[str]) -> ops.MigrateOperation:
    """``entry`` as its concurrent form when it is a plain index op on a table in use."""
    if isinstance(entry, ops.CreateIndexOp) and not isinstance(entry, CreateIndexConcurrentlyOp):
        if entry.table_name in fresh or _plain_columns(entry) is None:
            return entry
        return CreateIndexConcurrentlyOp(
            entry.index_name,
            entry.table_name,
            entry.columns,
            schema=entry.schema,
            unique=entry.unique,
        )
    if isinstance(entry, ops.DropIndexOp) and not isinstance(entry, DropIndexConcurrentlyOp):
        if entry.table_name is None or entry.table_name in fresh or entry.kw:
            return entry
        return DropIndexConcurrentlyOp(
            entry.index_name, entry.table_name, schema=entry.schema, _reverse=entry._reverse
        )
    if isinstance(entry, ops.OpContainer):
        entry.ops = [_concurrent(inner, fresh) for inner in entry.ops]
    return entry


def safer_ops(container: ops.OpContainer) -> None:
    """Rewrite ``container``'s index operations on existing tables to their concurrent form."""
    fresh = _tables_made_or_dropped(container.ops)
    container.ops = [_concurrent(entry, fresh) for entry in container.ops]


def process_revision_directives(context: MigrationContext, revision: Any, directives: Any) -> None:
    """Alembic's hook: applied to every script `bot-db revision` or `alembic revision` writes."""
    for script in directives:
        if not isinstance(script, ops.MigrationScript):
            continue
        for upgrade in script.upgrade_ops_list:
            safer_ops(upgrade)
        for downgrade in script.downgrade_ops_list:
            safer_ops(downgrade)
