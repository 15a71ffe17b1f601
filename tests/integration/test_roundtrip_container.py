"""`bot-db roundtrip --container`: a PostgreSQL major in a container through testcontainers."""

from __future__ import annotations

import json
import subprocess

import pytest

from bot_persistence.provision.scratch import _image_major
from bot_persistence.settings import Settings
from tests.helpers import bot_db

pytestmark = pytest.mark.docker


def test_roundtrip_runs_in_a_container_of_the_major_asked_for(postgres_image: str) -> None:
    major = _image_major(postgres_image)
    assert major is not None, f"{postgres_image} names no major"
    before = subprocess.run(
        ["docker", "ps", "--all", "--quiet"], capture_output=True, text=True, check=True
    ).stdout
    code, out, err = bot_db(
        Settings.from_values(postgres_image=postgres_image),
        *("roundtrip", "--pg", str(major), "--container", "--no-lint", "--json"),
    )
    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["ok"] is True
    assert report["server"].startswith(f"PostgreSQL {major}.")
    after = subprocess.run(
        ["docker", "ps", "--all", "--quiet"], capture_output=True, text=True, check=True
    ).stdout
    assert set(after.split()) <= set(before.split()), "the container was left behind"
