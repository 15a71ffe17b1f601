"""Where PostgreSQL comes from: one interface, one backend per source.

``embedded`` (the default, no Docker), ``external`` (a ``DATABASE_URL`` you give),
and the container backends ``docker`` (testcontainers) and ``compose``. The
container backends import testcontainers and the Docker SDK (the ``docker``
extra) only when used, so the package imports without them and says what to
install when one is chosen.
"""

from bot_persistence.provision.base import Backend, BackendStatus, ServerReady
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.provision.compose import ComposeBackend
from bot_persistence.provision.docker import DockerBackend, throwaway_container
from bot_persistence.provision.embedded import EmbeddedBackend
from bot_persistence.provision.external import ExternalBackend
from bot_persistence.provision.selection import BACKENDS, select_backend

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
