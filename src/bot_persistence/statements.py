"""SQLAlchemy statements turned into psycopg's SQL once, then run as plain SQL.

SQLAlchemy builds and compiles our statements: it knows the tables, quotes
names, renders ``ON CONFLICT`` and the bind casts, and turns Python values into
what PostgreSQL stores (an enum member into its label, a dict into JSONB). It
does that once per statement here; afterwards a call costs a dictionary look-up
and, only for the few parameters and columns that need one, a conversion.
Nothing of SQLAlchemy's execution (sessions, connection pool, result objects)
runs per call.

A statement is cached by identity, so module-level statements (and those an
``lru_cache`` hands out) compile once. ``INSERT``/``UPDATE`` statements without
their own ``VALUES`` compile to the columns the parameters name, as SQLAlchemy
does when it executes them, so they are cached per set of parameter names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Float
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

__all__ = ["Compiled", "compiled"]

_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]
#: Cached statements at most; ad hoc statements (built per call) would otherwise pile up.
_CACHE_SIZE = 2048

Converter = Callable[[Any], Any]
_NO_PARAMETERS: Mapping[str, Any] = {}


@dataclasses.dataclass(frozen=True, slots=True)
class Compiled:
    """One statement as psycopg runs it: SQL with ``%(name)s`` placeholders, and conversions."""

    sql: str
    #: Parameters the statement fixes itself (literals SQLAlchemy made bind parameters).
    fixed: Mapping[str, Any]
    #: ``(name, convert)`` for parameters whose Python value psycopg cannot send as is.
    converters: tuple[tuple[str, Converter], ...]
    #: ``(index, convert)`` for result columns psycopg loads differently from the model.
    column_converters: tuple[tuple[int, Converter], ...]

    def parameters(self, params: Mapping[str, Any] | None) -> Mapping[str, Any]:
        """The parameters to send for the caller's ``params``.

        Never ``None``: the SQL is in psycopg's placeholder style (a literal
        ``%`` written ``%%``), which psycopg reads only when given parameters.
        """
        if not self.fixed and not self.converters:
            return _NO_PARAMETERS if params is None else params
        values = {**self.fixed, **params} if params else dict(self.fixed)
        for name, convert in self.converters:
            if name in values:
                values[name] = convert(values[name])
        return values

    def rows(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``rows`` with the columns that need it converted (an enum label to its member)."""
        if not self.column_converters or not rows:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for index, convert in self.column_converters:
                values[index] = convert(values[index])
            converted.append(tuple(values))
        return converted


_cache: dict[object, Compiled] = {}


def compiled(statement: ClauseElement, params: Mapping[str, Any] | None = None) -> Compiled:
    """``statement`` compiled for psycopg (from the cache after the first call)."""
    key: object = statement
    keys = None
    if params and isinstance(statement, UpdateBase):
        keys = sorted(params)
        key = (statement, *keys)
    found = _cache.get(key)
    if found is not None:
        return found
    result, reusable = _compile(statement, keys)
    if reusable:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[key] = result
    return result


def _compile(statement: ClauseElement, keys: Sequence[str] | None) -> tuple[Compiled, bool]:
    """The statement compiled, and whether the SQL can be reused for other values.

    An expanding ``IN`` renders its values into the SQL: that SQL serves one call.
    """
    compiler = statement.compile(dialect=_DIALECT, column_keys=keys)
    assert isinstance(compiler, SQLCompiler)
    reusable = not compiler.post_compile_params
    if not reusable:
        compiler = statement.compile(
            dialect=_DIALECT, column_keys=keys, compile_kwargs={"render_postcompile": True}
        )
        assert isinstance(compiler, SQLCompiler)
    if compiler.insert_prefetch or compiler.update_prefetch:
        raise TypeError(
            "a statement with Python-side column defaults cannot run on this path; "
            "give the column a server default"
        )
    # SQLAlchemy's own per-type conversions: exactly those its execution would apply.
    processors = cast("Mapping[str, Converter]", compiler._bind_processors)
    required = {name for param, name in compiler.bind_names.items() if param.required}
    fixed = {
        name: processors[name](value) if name in processors else value
        for name, value in compiler.construct_params(_check=False).items()
        if name not in required
    }
    columns = []
    for index, entry in enumerate(compiler._result_columns):
        column_type = entry[3]
        # A float column's processor asks for the result's type OID, unknown before a
        # row comes back; psycopg returns a float (double precision, real) as one.
        if isinstance(column_type, Float) and not column_type.asdecimal:
            continue
        convert = column_type._cached_result_processor(_DIALECT, None)
        if convert is not None:
            columns.append((index, convert))
    converters = tuple((name, processors[name]) for name in sorted(processors) if name not in fixed)
    return Compiled(compiler.string, fixed, converters, tuple(columns)), reusable
