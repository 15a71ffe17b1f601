"""Where PostgreSQL comes from: one interface, one backend per source.

``embedded`` (the default, no Docker), ``external`` (a ``DATABASE_URL`` you give),
and the container backends ``docker`` (testcontainers) and ``compose``. Both
container backends are registered here; they import testcontainers and the
Docker SDK (the ``docker`` extra) only when used, so the package imports
without them and says what to install when one is chosen.
"""

from bot_persistence.provision.base import Backend, BackendStatus, ServerReady
from bot_persistence.provision.compose import ComposeBackend
from bot_persistence.provision.docker import DockerBackend, throwaway_server
from bot_persistence.provision.embedded import EmbeddedBackend, EmbeddedCluster
from bot_persistence.provision.external import ExternalBackend
from bot_persistence.provision.selection import BACKENDS, register_backend, select_backend

register_backend(DockerBackend.name, DockerBackend)
register_backend(ComposeBackend.name, ComposeBackend)

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
    "register_backend",
    "select_backend",
    "throwaway_server",
]
