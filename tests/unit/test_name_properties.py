"""Property tests of names and settings over the whole domain of their types.

Branch names are whatever git holds (any bytes but a few, so any code point
once decoded, lone surrogates included); settings come from any environment.
Every integer setting is drawn from all of Python's ints, every text one from
every code point, wrapped in whitespace, newlines and path separators. The
answer is always a valid value or our own typed error, never pydantic's or a
crash, and a pattern accepts only full matches (``$`` would let a final
newline through).
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot_persistence.cli.output import escaped
from bot_persistence.devdb.branches import SNAPSHOT_ROOM, database_name, is_branch_database
from bot_persistence.errors import ConfigurationError, InvalidSettingError
from bot_persistence.settings import Settings

WRAPPERS = ["", " ", "\n", "\t", "\r\n", "\u00a0", "\u2028", "/", "\\", "../", "\x00"]
any_text = st.text(st.characters(exclude_categories=()), max_size=80)
wrapped = st.tuples(st.sampled_from(WRAPPERS), any_text, st.sampled_from(WRAPPERS)).map("".join)
texts = st.one_of(any_text, wrapped)
EDGES = [
    sign * 2**bits + delta
    for bits in (15, 16, 31, 63, 64)
    for sign in (1, -1)
    for delta in (-1, 0, 1)
]
integers = st.one_of(st.sampled_from(EDGES), st.integers())

INT_SETTINGS = [
    "postgres_port",
    "pool_size",
    "max_overflow",
    "pool_recycle",
    "connect_timeout",
    "statement_timeout_ms",
]
TEXT_SETTINGS = [
    "postgres_host",
    "postgres_db",
    "postgres_user",
    "postgres_password",
    "postgres_image",
    "database_url",
    "backend",
    "environment",
    "compose_project",
    "pooler",
    "image_pull",
]


@given(branch=texts, base=st.sampled_from(["bot", "b" * 63, "ünïcode-" * 8]))
def test_every_branch_name_gives_one_plain_database_name_that_leaves_room(
    branch: str, base: str
) -> None:
    name = database_name(base, branch)
    assert len(name.encode()) <= 63 - (SNAPSHOT_ROOM if base == "bot" else 0)
    assert is_branch_database(base, name)
    assert not is_branch_database(base, name + "\n")
    assert re.fullmatch(r"[a-z0-9_-]+", name.removeprefix(base[:20])) or base != "bot"


@given(one=texts, other=texts)
def test_two_branch_names_never_share_a_database(one: str, other: str) -> None:
    if one != other:
        assert database_name("bot", one) != database_name("bot", other)


@given(commit=st.text("0123456789abcdef", min_size=40, max_size=40), branch=texts)
def test_a_detached_commit_never_takes_a_branchs_database(commit: str, branch: str) -> None:
    assert database_name("bot", None, commit) != database_name("bot", branch)


def built(**values: object) -> Settings | ConfigurationError:
    """The settings, with their URLs built, or the error that refused them."""
    try:
        settings = Settings.from_values(**values)
        settings.url  # noqa: B018 - building it is the check
        settings.plain_url  # noqa: B018
    except ConfigurationError as exc:
        return exc
    return settings


@given(name=st.sampled_from(INT_SETTINGS), value=integers)
def test_every_int_a_setting_is_given_is_kept_or_our_error(name: str, value: int) -> None:
    result = built(**{name: value})
    if isinstance(result, Settings):
        assert getattr(result, name) == value
        return
    assert isinstance(result, InvalidSettingError), result
    assert str(result).startswith(f"{name.upper()}: ") and "\n" not in str(result)
    assert str(value) not in str(result) or abs(value) < 10  # the value is never quoted


@given(name=st.sampled_from(TEXT_SETTINGS), value=texts)
def test_every_text_a_setting_is_given_is_kept_or_our_error(name: str, value: str) -> None:
    result = built(**{name: value})
    if isinstance(result, ConfigurationError):
        assert "\n" not in str(result)
    elif name == "compose_project" and value.strip():
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", value)


@given(text=texts)
def test_escaped_text_always_encodes_and_keeps_plain_text(text: str) -> None:
    shown = escaped(text)
    shown.encode("utf-8")  # never a surrogate left for a strict stream to refuse
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return
    if "\\udc" not in text:
        assert shown == text
