"""Which server a test run uses: options first, then the process environment, never .env."""

from __future__ import annotations

import pytest

from bot_persistence.errors import ConfigurationError
from bot_persistence.testing.server import choose_server

URL = "postgresql://ci:secret@127.0.0.1:5432/ci"


@pytest.mark.parametrize(
    ("backend", "url", "environ", "expected"),
    [
        (None, None, {}, "embedded"),
        ("embedded", None, {"BOT_DB_BACKEND": "docker"}, "embedded"),
        (None, None, {"BOT_DB_BACKEND": "docker"}, "docker"),
        (None, None, {"BOT_DB_BACKEND": "compose"}, "docker"),
        (None, URL, {}, "external"),
        (None, None, {"DATABASE_URL": URL}, "external"),
        ("external", None, {"DATABASE_URL": URL}, "external"),
        (None, None, {"DATABASE_URL": "  "}, "embedded"),
        ("embedded", None, {"DATABASE_URL": URL}, "embedded"),
        (None, None, {"DATABASE_URL": URL, "BOT_DB_BACKEND": "embedded"}, "external"),
    ],
    ids=[
        "default-embedded",
        "option-beats-env",
        "env-backend",
        "compose-means-a-container",
        "db-url-means-external",
        "database-url-means-external",
        "external-with-database-url",
        "blank-database-url-is-unset",
        "explicit-embedded-beats-database-url",
        "database-url-beats-env-backend",
    ],
)
def test_choose_server(
    backend: str | None, url: str | None, environ: dict[str, str], expected: str
) -> None:
    assert choose_server(backend, url, environ).backend == expected


def test_external_url_is_passed_on() -> None:
    assert choose_server(None, None, {"DATABASE_URL": URL}).url == URL


@pytest.mark.parametrize(
    ("backend", "url", "environ", "message"),
    [
        ("external", None, {}, "needs a server"),
        ("docker", URL, {}, "drop one of them"),
        (None, None, {"BOT_DB_BACKEND": "sqlite"}, "unknown test database backend 'sqlite'"),
    ],
    ids=["external-without-url", "url-and-docker", "unknown-backend"],
)
def test_contradictory_choices_are_configuration_errors(
    backend: str | None, url: str | None, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        choose_server(backend, url, environ)
