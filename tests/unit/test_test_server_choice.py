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


def test_db_pg_runs_in_a_container_of_that_major_where_one_can_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot_persistence.provision import scratch

    asked: list[tuple[int, str | None, bool, bool]] = []

    def image_for(
        major: int, image: str | None, *, pull: bool = False, may_pull: bool = True
    ) -> str:
        asked.append((major, image, pull, may_pull))
        return f"postgres:{major}"

    monkeypatch.setattr(scratch, "container_image_for", image_for)
    choice = choose_server(None, None, {"POSTGRES_IMAGE": "mine:15"}, major=16)
    assert (choice.backend, choice.image) == ("docker", "postgres:16")
    assert "PostgreSQL 16" in choice.reason
    # BOT_DB_IMAGE_PULL=never reaches the image look-up: nothing may be pulled.
    choose_server(None, None, {"BOT_DB_IMAGE_PULL": "never"}, major=16)
    assert asked == [(16, "mine:15", True, True), (16, None, True, False)]


@pytest.mark.parametrize(
    ("engine", "why"),
    [(False, "no Docker engine answers"), (True, "no image of PostgreSQL 16")],
    ids=["no-engine", "no-image"],
)
def test_db_pg_falls_back_to_embedded_and_says_why(
    monkeypatch: pytest.MonkeyPatch, engine: bool, why: str
) -> None:
    from bot_persistence.provision import engine as engine_module
    from bot_persistence.provision import scratch

    monkeypatch.setattr(scratch, "container_image_for", lambda *a, **k: None)
    monkeypatch.setattr(engine_module, "engine_answers", lambda **k: engine)
    choice = choose_server(None, None, {}, major=16)
    assert choice.backend == "embedded"
    assert why in choice.reason
    assert "not PostgreSQL 16" in choice.reason


def test_db_pg_with_docker_required_and_no_image_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot_persistence.provision import engine as engine_module
    from bot_persistence.provision import scratch

    monkeypatch.setattr(scratch, "container_image_for", lambda *a, **k: None)
    monkeypatch.setattr(engine_module, "engine_answers", lambda **k: True)
    with pytest.raises(ConfigurationError, match="docker pull postgres:16"):
        choose_server("docker", None, {}, major=16)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_db_pg_under_ci_never_substitutes_another_major(
    monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    """A matrix cell asking for 16 must not go green on the embedded wheel's 18."""
    from bot_persistence.provision import engine as engine_module
    from bot_persistence.provision import scratch

    monkeypatch.setattr(scratch, "container_image_for", lambda *a, **k: None)
    monkeypatch.setattr(engine_module, "engine_answers", lambda **k: True)
    embedded = scratch.embedded_major()
    assert embedded is not None and embedded != 16
    with pytest.raises(ConfigurationError) as refused:
        choose_server(None, None, {"CI": ci}, major=16)
    message = str(refused.value)
    assert "\n" not in message
    assert f"the embedded server is PostgreSQL {embedded}" in message
    assert "docker pull postgres:16" in message


def test_db_pg_under_ci_takes_the_embedded_server_of_that_very_major(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot_persistence.provision import scratch

    monkeypatch.setattr(scratch, "container_image_for", lambda *a, **k: None)
    embedded = scratch.embedded_major()
    assert embedded is not None
    choice = choose_server(None, None, {"CI": "true"}, major=embedded)
    assert choice.backend == "embedded"
    assert f"PostgreSQL {embedded}" in choice.reason


def test_plugin_options_are_also_read_from_the_ini_file(pytester: pytest.Pytester) -> None:
    from bot_persistence.testing.hooks import option

    pytester.makeini("[pytest]\ndb_pg = 16\ndb_backend = docker\ndb_fresh_server = true\n")
    config = pytester.parseconfig()
    assert option(config, "db_pg") == 16
    assert option(config, "db_backend") == "docker"
    assert option(config, "db_fresh_server") is True
    assert option(config, "db_url") is None
    # The command line wins over the ini file.
    assert option(pytester.parseconfig("--db-pg", "17"), "db_pg") == 17
