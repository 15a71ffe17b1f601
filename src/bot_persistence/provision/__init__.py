"""Where PostgreSQL comes from: one interface, one backend per source.

``embedded`` (the default, no Docker), ``external`` (a ``DATABASE_URL`` you give),
and the container backends ``docker`` and ``compose`` when installed.
"""

from bot_persistence.provision.base import Backend, BackendStatus, ServerReady
from bot_persistence.provision.embedded import EmbeddedBackend, EmbeddedCluster
from bot_persistence.provision.external import ExternalBackend
from bot_persistence.provision.selection import BACKENDS, register_backend, select_backend

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendStatus",
    "EmbeddedBackend",
    "EmbeddedCluster",
    "ExternalBackend",
    "ServerReady",
    "register_backend",
    "select_backend",
]
