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

from typing import TYPE_CHECKING

from bot_persistence.exports import lazy_exports

if TYPE_CHECKING:
    from bot_persistence.provision.base import Backend, BackendStatus, ServerReady
    from bot_persistence.provision.cluster import EmbeddedCluster
    from bot_persistence.provision.compose import ComposeBackend
    from bot_persistence.provision.docker import DockerBackend, throwaway_container
    from bot_persistence.provision.embedded import EmbeddedBackend
    from bot_persistence.provision.external import ExternalBackend
    from bot_persistence.provision.selection import BACKENDS, select_backend

#: Each public name and the module it lives in, loaded on first use.
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
__getattr__ = lazy_exports(__name__, {name: f"{__name__}.{home}" for name, home in _HOMES.items()})

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
