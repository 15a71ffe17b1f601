from __future__ import annotations

from pathlib import Path

import pytest

from bot_persistence.devdb.seeding import load_seeds
from bot_persistence.errors import SeedError


def test_the_project_seeds_are_valid() -> None:
    data = load_seeds(Path(__file__).parents[2] / "seeds")
    assert data.users and data.guilds and data.playlists
    owners = {user.id for user in data.users}
    assert all(playlist.owner_id in owners for playlist in data.playlists)


def test_malformed_json_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "users.json").write_text('[{"id": 1,}]')
    with pytest.raises(SeedError, match=r"users\.json: not valid JSON at line 1"):
        load_seeds(tmp_path)


def test_invalid_item_names_the_file_and_item(tmp_path: Path) -> None:
    (tmp_path / "users.json").write_text('[{"id": 1, "username": "ok"}, {"id": 2, "username": ""}]')
    with pytest.raises(SeedError, match=r"users\.json: item 1\.username"):
        load_seeds(tmp_path)


def test_unknown_field_is_refused(tmp_path: Path) -> None:
    (tmp_path / "guilds.json").write_text('[{"id": 1, "name": "g", "colour": "red"}]')
    with pytest.raises(SeedError, match="colour"):
        load_seeds(tmp_path)


def test_missing_folder_is_a_seed_error(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="no seed folder"):
        load_seeds(tmp_path / "absent")
