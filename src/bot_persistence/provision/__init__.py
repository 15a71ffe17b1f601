"""Where PostgreSQL comes from: one interface, one backend per source.

``embedded`` (the default, no Docker), ``external`` (a ``DATABASE_URL`` you give),
and the container backends ``docker`` (testcontainers) and ``compose``. The
container backends import testcontainers and the Docker SDK (the ``docker``
extra) only when used, so the package imports without them and says what to
install when one is chosen.

The names below load with their module on first use (PEP 562): importing one
submodule (``provision.scratch`` for the parser's default major, ``databases``)
does not load every backend, the settings and psycopg, which ``bot-db
--version`` would otherwise pay for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot_persistence.provision.base import Backend, BackendStatus, ServerReady
    from bot_persistence.provision.cluster import EmbeddedCluster
    from bot_persistence.provision.compose import ComposeBackend
    from bot_persistence.provision.docker import DockerBackend, throwaway_container
    from bot_persistence.provision.embedded import EmbeddedBackend
    from bot_persistence.provision.external import ExternalBackend
    from bot_persistence.provision.selection import BACKENDS, select_backend

#: Each public name and the module it lives in.
_HOMES = {
    "BACKENDS": "selection",
    "Backend": "base",
    "BackendStatus": "base",
    "ComposeBackend": "compose",
    "DockerBackend": "docker",
    "EmbeddedBackend": "embedded",
    "EmbeddedCluster": "cluster",
    "ExternalBackend": "external",
    "ServerReady": "base",
    "select_backend": "selection",
    "throwaway_container": "docker",
}


def __getattr__(name: str) -> Any:
    """Load the module that holds ``name`` when it is first asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'bot_persistence.provision' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bot_persistence.provision.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendStatus",
    "ComposeBackend",
    "DockerBackend",
    "EmbeddedBackend",
    "EmbeddedCluster",
    "ExternalBackend",
    "ServerReady",
    "select_backend",
    "throwaway_container",
]
