"""Settings kept one row per owner (a guild's settings, a user's preferences), written once.

Both tables work the same way: an owner (a guild, a user) is recorded with an
upsert that writes only when its name changed; an owner without a settings row
has the defaults; a write changes exactly the fields the caller gave, with one
upsert, so two shards writing a new owner's first settings at once still leave
exactly one row. A repository declares its table once (:class:`OwnerTable`,
:class:`KeyedSettings`) and a new settings field is one field on its update
model (and the column it is stored in).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import String, Table, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.sql.dml import ReturningInsert

from bot_persistence.models import Base
from bot_persistence.repositories.base import (
    StrictModel,
    check_id,
    check_text,
    from_stored_row,
    translate_constraint_errors,
    validate,
)
from bot_persistence.session import Session

__all__ = ["KeyedSettings", "OwnerTable"]

_Update = TypeVar("_Update", bound=StrictModel)
_Stored = TypeVar("_Stored", bound=StrictModel)


class OwnerTable:
    """The table of owners (``guilds``, ``users``): an id and a name, recorded by upsert."""

    def __init__(self, table: str, *, what: str, name_column: str, name_label: str) -> None:
        self.what = what
        self.name_label = name_label
        owners = Base.metadata.tables[table]
        name_type = owners.c[name_column].type
        assert isinstance(name_type, String) and name_type.length, "a name column has a width"
        #: The longest name Discord allows, which is the width of the name column.
        self.max_length = name_type.length
        new = pg_insert(owners).values(id=bindparam("id"), **{name_column: bindparam("name")})
        touched = {"updated_at": func.now()} if "updated_at" in owners.c else {}
        # Built once, with bind parameters: building a statement per call would
        # cost more than its round trip.
        self._ensure = new.on_conflict_do_update(
            index_elements=[owners.c.id],
            set_={name_column: new.excluded[name_column], **touched},
            where=owners.c[name_column].is_distinct_from(new.excluded[name_column]),
        )

    async def ensure(self, session: Session, owner_id: int, name: str) -> None:
        """Record the owner (or its new name): an upsert that writes only on a change."""
        owner_id = check_id(owner_id, f"{self.what} id")
        name = check_text(name, self.name_label, max_length=self.max_length)
        await session.execute(self._ensure, {"id": owner_id, "name": name})


class KeyedSettings(Generic[_Update, _Stored]):
    """A settings table keyed by its owner's id, read and written by the fields of ``update``.

    ``stored`` is ``update`` plus the owner's id (named ``key``) and a ``stored``
    flag, False for the defaults of an owner without a row. ``not_found`` is the
    message for a write whose owner was never recorded; ``{id}`` is replaced.
    """

    def __init__(
        self,
        table: str,
        *,
        key: str,
        update: type[_Update],
        stored: type[_Stored],
        what: str,
        not_found: str,
    ) -> None:
        self.key = key
        self.update_model = update
        self.stored_model = stored
        self.what = what
        self.not_found = not_found
        self.fields = tuple(update.model_fields)
        self._table = Base.metadata.tables[table]
        #: The statement reading an owner's settings (bound by ``key``).
        self.select = select(*self._columns()).where(self._table.c[key] == bindparam(key))

    def _columns(self) -> list[Any]:
        return [self._table.c[name] for name in self.fields]

    async def get(self, session: Session, owner_id: int) -> _Stored:
        """The owner's settings, or the defaults when nobody changed one yet."""
        owner_id = check_id(owner_id, self.key.replace("_", " "))
        row = (await session.execute(self.select, {self.key: owner_id})).one_or_none()
        if row is None:
            return self.stored_model.model_validate({self.key: owner_id})
        return self.from_row(owner_id, row)

    async def write(
        self, session: Session, owner_id: int, changes: _Update | Mapping[str, object]
    ) -> _Stored:
        """Change the fields given in ``changes`` (validated); the owner must be recorded."""
        owner_id = check_id(owner_id, self.key.replace("_", " "))
        update = validate(self.update_model, changes, self.what)
        fields = tuple(sorted(update.model_fields_set))
        if not fields:
            return await self.get(session, owner_id)
        values = {name: getattr(update, name) for name in fields}
        with translate_constraint_errors(not_found=self.not_found.format(id=owner_id)):
            statement = _upsert(self._table, self.key, fields, self.fields)
            row = (await session.execute(statement, {self.key: owner_id, **values})).one()
        return self.from_row(owner_id, row)

    def from_row(self, owner_id: int, row: tuple[Any, ...]) -> _Stored:
        """The settings a row of :attr:`fields` holds, as stored (see ``from_stored_row``)."""
        return from_stored_row(
            self.stored_model, self.fields, row, **{self.key: owner_id, "stored": True}
        )


@functools.lru_cache(maxsize=512)
def _upsert(
    table: Table, key: str, fields: tuple[str, ...], returned: tuple[str, ...]
) -> ReturningInsert[Any]:
    """The upsert writing exactly ``fields``: one statement per set of fields, built once."""
    new = pg_insert(table).values(
        {key: bindparam(key), **{name: bindparam(name) for name in fields}}
    )
    return new.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={**{name: new.excluded[name] for name in fields}, "updated_at": func.now()},
    ).returning(*(table.c[name] for name in returned))
