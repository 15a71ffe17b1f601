"""What every repository shares: checking arguments, and turning driver errors into ours.

Arguments are checked in Python before any statement runs, so bad input (a
wrong type, an empty or overlong name, a NUL byte, a lone surrogate that is
not Unicode at all, an id out of range) is an
:class:`~bot_persistence.errors.InvalidInputError` that changed nothing. The
database's own constraints stay the last line; when one fires anyway (a
foreign key to a user nobody created, a race the caller lost) the error is
translated here, and the unit of work it happened in is rolled back.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from pydantic import BaseModel, ConfigDict, ValidationError

from bot_persistence.connection import first_line
from bot_persistence.errors import (
    AlreadyExistsError,
    DiskFullError,
    InvalidInputError,
    NotFoundError,
)
from bot_persistence.session import Session

__all__ = [
    "MAX_BIGINT",
    "MAX_INTEGER",
    "Repository",
    "StrictModel",
    "check_id",
    "check_position",
    "check_text",
    "find_unencodable",
    "from_stored_row",
    "has_control_characters",
    "translate_constraint_errors",
    "validate",
    "validation_message",
]

_Model = TypeVar("_Model", bound="StrictModel")
_Stored = TypeVar("_Stored", bound=BaseModel)

#: The largest value a PostgreSQL BIGINT (and a Discord snowflake) can hold.
MAX_BIGINT = 2**63 - 1
#: The largest value a PostgreSQL INTEGER can hold: positions, limits and offsets are bound
#: as INTEGER, so one past it is the driver's NumericValueOutOfRange unless checked here.
MAX_INTEGER = 2**31 - 1


class Repository:
    """Base of the repositories: each works inside one unit of work (a :class:`Session`).

    Get the session from :meth:`bot_persistence.Database.session`; the repository
    never commits, so several calls compose into one atomic unit of work.
    """

    def __init__(self, session: Session) -> None:
        self.session = session


class StrictModel(BaseModel):
    """Input and output values: immutable, no unknown fields, no silent type coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def check_id(value: object, what: str) -> int:
    """``value`` as a positive BIGINT id (a Discord snowflake or a row id), or a typed error."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what} must be an integer id, not {type(value).__name__}")
    if not 0 < value <= MAX_BIGINT:
        raise InvalidInputError(f"{what} {value} is out of range: ids are positive 64-bit integers")
    return value


def check_position(value: object, what: str = "position") -> int:
    """``value`` as a 0-based position (or a limit, an offset) that an INTEGER holds, or a
    typed error; a tighter upper end (the playlist's length) is the caller's."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise InvalidInputError(f"{what} {value} is negative; positions count from 0")
    if value > MAX_INTEGER:
        raise InvalidInputError(f"{what} is out of range: the most is {MAX_INTEGER}")
    return value


#: Unicode's control characters (category Cc) are exactly C0, DEL and C1: a regex
#: finds one in C, where asking ``unicodedata`` per character costs a call each.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds a NUL byte or another control character."""
    return _CONTROL_CHARACTER.search(text) is not None


def _is_unencodable(text: str) -> bool:
    """True when UTF-8 cannot hold ``text``: for a ``str`` only a lone surrogate does that."""
    if text.isascii():  # the usual case, answered without encoding a copy
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


#: Values that hold no text: skipped without a call.
_NO_TEXT = (int, float, bool, type(None))


def find_unencodable(value: object) -> str | None:
    """The first string in ``value`` (nested in lists, dicts, models) that UTF-8 cannot hold.

    A lone surrogate (``json.loads('"\\ud800"')`` makes one) is a ``str`` in
    Python but not Unicode text; the driver would fail on it mid-statement.
    A model's field values are walked as they are (no ``model_dump`` copy):
    this runs on every write a repository validates.
    """
    if isinstance(value, str):
        return value if _is_unencodable(value) else None
    if isinstance(value, BaseModel):
        value = value.__dict__.values()
    elif isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    elif not isinstance(value, list | tuple | set | frozenset):
        return None  # a number, a bool, None, a datetime: nothing to encode as text
    for item in value:
        if type(item) in _NO_TEXT:
            continue
        found = find_unencodable(item)
        if found is not None:
            return found
    return None


def _unencodable_error(what: str) -> InvalidInputError:
    return InvalidInputError(
        f"{what} contains a lone surrogate, which is not Unicode text; decode the input "
        "properly (or replace it with errors='replace')"
    )


def check_text(value: object, what: str, *, max_length: int) -> str:
    """``value`` stripped, 1..max_length characters, no control characters; else a typed error.

    PostgreSQL text cannot hold NUL at all, and other control characters in a
    name only ever come from a bug or an attack, so both are refused here.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be text, not {type(value).__name__}")
    cleaned = value.strip()
    if not cleaned:
        raise InvalidInputError(f"{what} is empty; give 1 to {max_length} characters")
    if len(cleaned) > max_length:
        raise InvalidInputError(
            f"{what} is {len(cleaned)} characters long; the most is {max_length}"
        )
    if has_control_characters(cleaned):
        raise InvalidInputError(f"{what} contains control characters (such as NUL); remove them")
    if find_unencodable(cleaned) is not None:
        raise _unencodable_error(what)
    return cleaned


def validation_message(exc: ValidationError, what: str) -> str:
    """One line from pydantic's errors: ``what: field: problem; field: problem``."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "value"
        parts.append(f"{where}: {error['msg']}")
    return f"{what}: {'; '.join(parts)}"


def validate(model: type[_Model], data: object, what: str) -> _Model:
    """``data`` validated as ``model`` (a mapping or an instance), or InvalidInputError.

    Generic in the model, so a caller gets the model's own type back and mypy
    checks what it does with it. Text no UTF-8 can hold (a lone surrogate) is
    refused too, anywhere in the value.
    """
    if isinstance(data, model):
        validated = data
    else:
        try:
            validated = model.model_validate(data)
        except ValidationError as exc:
            raise InvalidInputError(validation_message(exc, what)) from None
    if find_unencodable(validated) is not None:
        raise _unencodable_error(what)
    return validated


def from_stored_row(
    model: type[_Stored], fields: Sequence[str], row: Sequence[Any], **extra: Any
) -> _Stored:
    """``model`` from a row of ``fields`` (and ``extra`` values), as it is stored.

    Validated, which pydantic-core does faster than ``model_construct``'s Python
    loop; a row our validators would refuse (written by hand in SQL) is still
    returned as it is stored rather than failing the read.
    """
    values = dict(zip(fields, row, strict=True))
    values.update(extra)
    try:
        return model.model_validate(values)
    except ValidationError:
        return model.model_construct(**values)


@contextlib.contextmanager
def translate_constraint_errors(
    *,
    not_found: str = "a row it refers to does not exist",
    exists: str = "such a row exists already",
) -> Iterator[None]:
    """Turn a constraint violation from the database into our typed error.

    ``not_found`` is the message for a foreign-key violation, ``exists`` for a
    unique one. Anything else that is the caller's input (a check constraint,
    a value PostgreSQL cannot store) becomes InvalidInputError.
    """
    try:
        yield
    except UnicodeEncodeError:
        raise _unencodable_error("the input") from None
    except psycopg.errors.ForeignKeyViolation as exc:
        raise NotFoundError(not_found) from exc
    except psycopg.errors.UniqueViolation as exc:
        raise AlreadyExistsError(exists) from exc
    except psycopg.errors.DiskFull as exc:
        raise DiskFullError(
            f"the database server's disk is full ({first_line(exc)}); free space on "
            "the disk of its data directory, nothing was written"
        ) from exc
    except (psycopg.DataError, psycopg.IntegrityError) as exc:
        # A data exception (a number out of range, text PostgreSQL cannot hold)
        # or another constraint (a CHECK): the caller's input either way.
        raise InvalidInputError(f"the database refused the value: {first_line(exc)}") from exc
