"""The schema as a Mermaid ER diagram, generated from the models.

``docs/schema.md`` holds the diagram in a cog block (see :mod:`.generated`):
``bot-db erd --write`` (or ``cog -r docs/schema.md``) rewrites it and
``nox -s docs-check`` fails when it differs from what the models generate, so
the picture a reader sees is the schema the code has. The Mermaid text itself
is ours: no library writes an ER diagram from SQLAlchemy metadata in the shape
this page wants (types as PostgreSQL names them, keys, nullability).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, MetaData, Table, UniqueConstraint
from sqlalchemy.dialects import postgresql

from bot_persistence.devdb import generated
from bot_persistence.errors import ConfigurationError

__all__ = [
    "BEGIN_MARKER",
    "END_MARKER",
    "diagram_block",
    "mermaid",
    "replace_block",
]

#: The line before the diagram: a cog block whose code prints it (a comment to a reader).
BEGIN_MARKER = (
    "<!-- [[[cog import bot_persistence.devdb.erd as erd; cog.out(erd.diagram_block()) ]]] -->"
)
#: The line after it.
END_MARKER = f"<!-- {generated.END} -->"

_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_TYPE_NAMES = {
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
    "character varying": "varchar",
    "double precision": "float8",
}


def _type_name(column: Column[object]) -> str:
    """The column's PostgreSQL type as one Mermaid-safe word (``varchar(100)``, ``jsonb``)."""
    name = str(column.type.compile(dialect=_DIALECT)).lower()
    for long, short in _TYPE_NAMES.items():
        name = name.replace(long, short)
    return name.replace(" ", "_").replace(",", "_")


def _keys(column: Column[object], table: Table) -> str:
    keys = []
    if column.primary_key:
        keys.append("PK")
    if column.foreign_keys:
        keys.append("FK")
    if not column.primary_key and _is_unique(column, table):
        keys.append("UK")
    return ", ".join(keys)


def _is_unique(column: Column[object], table: Table) -> bool:
    """True when the column alone is unique (a one-column unique constraint or index)."""
    if column.unique:
        return True
    singles = [
        constraint
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint) and len(constraint.columns) == 1
    ]
    return any(column.name in constraint.columns for constraint in singles)


def _entity(table: Table) -> list[str]:
    lines = [f"    {table.name} {{"]
    for column in table.columns:
        parts = [_type_name(column), column.name]
        keys = _keys(column, table)
        if keys:
            parts.append(keys)
        if column.nullable and not column.primary_key:
            parts.append('"nullable"')
        lines.append("        " + " ".join(parts))
    lines.append("    }")
    return lines


def _relationships(table: Table) -> list[str]:
    """One line per foreign key: parent, cardinality, child, and the column as label."""
    lines = []
    for fk in sorted(table.foreign_keys, key=lambda fk: (fk.parent.name, fk.column.table.name)):
        child_column = fk.parent
        parent_side = "|o" if child_column.nullable else "||"
        one_child = child_column.primary_key or _is_unique(child_column, table)
        child_side = "o|" if one_child else "o{"
        parent = fk.column.table.name
        label = child_column.name
        lines.append(f'    {parent} {parent_side}--{child_side} {table.name} : "{label}"')
    return lines


def mermaid(metadata: MetaData | None = None) -> str:
    """The ER diagram of ``metadata`` (the models' by default) as Mermaid source."""
    if metadata is None:
        from bot_persistence.models import Base

        metadata = Base.metadata
    tables = sorted(metadata.tables.values(), key=lambda table: table.name)
    lines = ["erDiagram"]
    for table in tables:
        lines.extend(_relationships(table))
    for table in tables:
        lines.extend(_entity(table))
    return "\n".join(lines) + "\n"


def diagram_block(metadata: MetaData | None = None) -> str:
    """The diagram as ``docs/schema.md`` shows it: a fenced Mermaid block."""
    return f"```mermaid\n{mermaid(metadata)}```\n"


def replace_block(path: Path) -> bool:
    """Regenerate the diagram (and any other cog block) in ``path``; True when it changed."""
    if BEGIN_MARKER not in path.read_text(encoding="utf-8"):
        raise ConfigurationError(
            f"{path} has no diagram markers; add a line {BEGIN_MARKER!r} and a line "
            f"{END_MARKER!r} where the diagram goes"
        )
    return generated.regenerate(path)
