"""The declarative base every model shares, with one constraint naming convention.

Named constraints make migrations reviewable and reversible: Alembic can only
drop what it can name, and autogenerate compares names. The convention follows
the one SQLAlchemy's documentation recommends.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, Enum, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["NAMING_CONVENTION", "Base", "Snowflake", "TimestampMixin", "value_enum"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Discord ids are 64-bit "snowflakes"; they do not fit in INTEGER.
Snowflake = BigInteger


def value_enum(members: type[enum.Enum], name: str) -> Enum:
    """The PostgreSQL enum type ``name``, holding the members' values, not their names."""
    return Enum(members, name=name, values_callable=lambda kinds: [kind.value for kind in kinds])


class Base(DeclarativeBase):
    """Base class of every table; its ``metadata`` is what Alembic compares against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: DateTime(timezone=True)}


class TimestampMixin:
    """``created_at`` and ``updated_at`` kept by the database, in UTC-aware timestamps."""

    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
