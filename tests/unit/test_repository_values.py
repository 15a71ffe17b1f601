"""The repositories' own checks on values, without a database: the text checks and row reading."""

from __future__ import annotations

import sys
import unicodedata

from bot_persistence.repositories.base import find_unencodable, has_control_characters
from bot_persistence.repositories.guilds import _SETTINGS, GuildConfig
from bot_persistence.repositories.playlists import TrackInput

LONE_SURROGATE = "\ud800"


def test_control_characters_are_exactly_unicodes_category_cc() -> None:
    # The regex stands in for unicodedata's per-character look-up; it must not drift.
    every = (chr(code) for code in range(sys.maxunicode + 1))
    disagreeing = [
        char
        for char in every
        if has_control_characters(char) != (unicodedata.category(char) == "Cc")
    ]
    assert disagreeing == []


def test_a_lone_surrogate_is_found_wherever_it_is_nested() -> None:
    track = TrackInput(
        source_url="https://example.test/a", title="ok", extra={"k": [LONE_SURROGATE]}
    )
    assert find_unencodable([1, 2.5, None, True, track]) == LONE_SURROGATE
    assert find_unencodable({LONE_SURROGATE: 1}) == LONE_SURROGATE
    assert find_unencodable(("naïve", "日本語", 7, {"x": ["fine"]})) is None


def _stored_row(**values: object) -> tuple[object, ...]:
    """A ``guild_settings`` row as the repository reads it: the defaults, but ``values``."""
    defaults = GuildConfig(guild_id=1)
    return tuple(values.get(name, getattr(defaults, name)) for name in _SETTINGS.fields)


def test_a_stored_row_our_validators_would_refuse_is_still_read() -> None:
    # A locale written by hand in SQL: reading the settings must not fail on it.
    config = _SETTINGS.from_row(1, _stored_row(locale="xx-XX"))
    assert isinstance(config, GuildConfig)
    assert (config.locale, config.stored, config.guild_id) == ("xx-XX", True, 1)
    valid = _stored_row(prefix="?", dj_role_id=5, default_volume=60, locale="de")
    assert _SETTINGS.from_row(2, valid).model_fields_set >= {"prefix", "stored"}
