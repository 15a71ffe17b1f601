"""compose/docker-compose.yml and its dev mirror: in agreement with each other and with Settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot_persistence.provision.compose import (
    SERVICE,
    VOLUME,
    ComposeBackend,
    compose_file,
    default_project_name,
)
from bot_persistence.settings import Settings

COMPOSE = compose_file().parent
#: Server options only the development file adds.
DEV_ONLY_OPTIONS = {"log_statement", "log_min_duration_statement"}


def load(name: str) -> dict[str, Any]:
    # The safe loader, as Compose v1 reads them: no tag only v2 knows (`!reset`).
    loaded: dict[str, Any] = yaml.safe_load((COMPOSE / name).read_text())
    return loaded


def options(command: list[str]) -> dict[str, str]:
    """``-c name=value`` pairs of a postgres command line."""
    pairs = [command[i + 1] for i, arg in enumerate(command) if arg == "-c"]
    return dict(pair.split("=", 1) for pair in pairs)


def default_of(value: str) -> str:
    """The default in a ``${NAME:-default}`` interpolation."""
    found = re.search(r"\$\{\w+:-([^}]*)\}", value)
    assert found, f"{value!r} has no ${{NAME:-default}}"
    return found.group(1)


def test_dev_file_mirrors_the_database_service_apart_from_logging() -> None:
    base = load("docker-compose.yml")["services"][SERVICE]
    dev = load("docker-compose.dev.yml")["services"][SERVICE]
    base_rest = {key: value for key, value in base.items() if key != "command"}
    dev_rest = {key: value for key, value in dev.items() if key != "command"}
    assert dev_rest == base_rest
    base_options, dev_options = options(base["command"]), options(dev["command"])
    assert {k: v for k, v in dev_options.items() if k not in DEV_ONLY_OPTIONS} == base_options
    assert set(dev_options) - set(base_options) == DEV_ONLY_OPTIONS


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.dev.yml"])
def test_compose_defaults_are_the_settings_defaults(name: str) -> None:
    service = load(name)["services"][SERVICE]
    defaults = Settings.from_values()
    env = service["environment"]
    assert default_of(service["image"]) == defaults.postgres_image
    assert default_of(env["POSTGRES_DB"]) == defaults.postgres_db
    assert default_of(env["POSTGRES_USER"]) == defaults.postgres_user
    assert default_of(env["POSTGRES_PASSWORD"]) == defaults.postgres_password.get_secret_value()
    assert default_of(service["ports"][0]) == str(defaults.postgres_port)


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.dev.yml"])
def test_port_is_published_on_loopback_only(name: str) -> None:
    ports = load(name)["services"][SERVICE]["ports"]
    assert len(ports) == 1
    assert ports[0].startswith("127.0.0.1:")
    assert ports[0].endswith(":5432")


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.dev.yml"])
def test_data_lives_in_the_named_volume_under_pgdata(name: str) -> None:
    loaded = load(name)
    service = loaded["services"][SERVICE]
    mount = f"{VOLUME}:/var/lib/postgresql/data"
    assert service["volumes"] == [mount]
    assert VOLUME in loaded["volumes"]
    assert service["environment"]["PGDATA"].startswith("/var/lib/postgresql/data/")


def test_healthcheck_asks_over_tcp_so_the_init_server_does_not_count() -> None:
    test = load("docker-compose.yml")["services"][SERVICE]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    assert "pg_isready" in test[1]
    assert "-h 127.0.0.1" in test[1]


def test_no_port_file_is_the_database_service_without_its_port() -> None:
    base = load("docker-compose.yml")
    no_port = load("docker-compose.no-port.yml")
    assert "ports" not in no_port["services"][SERVICE]
    assert {k: v for k, v in base["services"][SERVICE].items() if k != "ports"} == (
        no_port["services"][SERVICE]
    )
    assert no_port["volumes"] == base["volumes"]


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("bot-persistence", "bot-persistence"),
        ("Bot_Persistence.Feature X", "bot_persistencefeaturex"),
        ("-_clone2", "clone2"),
        ("...", "bot-persistence"),
    ],
    ids=["plain", "upper-case-and-dots", "leading-dash", "nothing-left"],
)
def test_default_project_name_is_derived_from_the_folder_as_compose_does(
    tmp_path: Path, folder: str, expected: str
) -> None:
    root = tmp_path / folder
    root.mkdir()
    assert default_project_name(root) == expected


def test_compose_backend_names_the_project_after_the_checkout_unless_told(tmp_path: Path) -> None:
    checkout = tmp_path / "my-clone"
    (checkout / "compose").mkdir(parents=True)
    file = checkout / "compose" / "docker-compose.yml"
    derived = ComposeBackend(Settings.from_values(), file=file)
    assert (derived.project, derived.volume) == ("my-clone", "my-clone_postgres-data")
    named = ComposeBackend(Settings.from_values(compose_project="shared"), file=file)
    assert named.project == "shared"


def test_blank_compose_project_means_derived() -> None:
    assert Settings.from_values(compose_project="").compose_project is None


def test_bot_slot_waits_for_a_healthy_database_on_the_compose_network() -> None:
    bot = load("docker-compose.dev.yml")["services"]["bot"]
    assert bot["depends_on"] == {SERVICE: {"condition": "service_healthy"}}
    assert bot["environment"]["POSTGRES_HOST"] == SERVICE
    assert bot["profiles"] == ["bot"]


def test_compose_file_is_found_from_the_checkout() -> None:
    assert compose_file() == Path(__file__).resolve().parents[2] / "compose" / "docker-compose.yml"


@pytest.mark.parametrize("name", ["docker-compose.yml", "docker-compose.dev.yml"])
def test_registry_images_are_pinned_by_version(name: str) -> None:
    """An image a user pulls names its version: never `latest`, never no tag at all."""
    for service, spec in load(name)["services"].items():
        image = default_of(spec["image"]) if "${" in spec["image"] else spec["image"]
        if image.startswith("discord-music-bot"):
            continue  # built from this repository, not pulled
        tag = image.rpartition(":")[2] if ":" in image else ""
        assert tag and tag != "latest", f"{name}: {service} pulls {image} unpinned"
