"""The database URL, parsed and rendered without SQLAlchemy.

Every command reads :class:`~bot_persistence.settings.Settings`, and most only
need the URL's parts: where to connect, which database, as whom, and how to
show it with the password masked. Importing SQLAlchemy for that cost 100-140 ms
of every ``bot-db`` run, ``--version`` included. So the URL is parsed here, the
way SQLAlchemy's ``make_url`` does (the same pattern, percent-decoding and
query handling, so ``DATABASE_URL`` means what it always meant), and a
SQLAlchemy ``URL`` is built only where an engine is made
(:meth:`DatabaseUrl.sqlalchemy`). ``tests/unit/test_database_url.py`` holds the
parsing, the rendering and the connect parameters to SQLAlchemy's own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode

from bot_persistence.errors import InvalidDatabaseUrlError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["DRIVER", "DatabaseUrl"]

#: The scheme every URL is moved onto: SQLAlchemy's psycopg 3 dialect.
DRIVER = "postgresql+psycopg"
_ACCEPTED_SCHEMES = {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg_async"}
_SHAPE = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"

# SQLAlchemy's own pattern (sqlalchemy.engine.url._parse_url), so a URL splits the same way.
_PATTERN = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)

Query = Mapping[str, "str | tuple[str, ...]"]


@dataclasses.dataclass(frozen=True)
class DatabaseUrl:
    """A PostgreSQL URL's parts, always on the psycopg driver."""

    user: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    query: Query = dataclasses.field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str) -> DatabaseUrl:
        """Parse ``DATABASE_URL``, or say in one line what is wrong with it (never its text)."""
        text = _hosts_into_query(raw.strip())
        found = _PATTERN.match(text)
        if found is None:
            raise InvalidDatabaseUrlError(
                f"DATABASE_URL is not a valid URL; write it as {_SHAPE} (quote special "
                "characters in the password with %XX)"
            )
        parts = found.groupdict()
        try:
            port = int(parts["port"]) if parts["port"] else None
        except ValueError:
            raise InvalidDatabaseUrlError(
                f"DATABASE_URL has a port that is not a number; write it as {_SHAPE}"
            ) from None
        if text.partition("://")[2].partition("?")[0].count("@") > 1:
            # An unescaped "@" in the password: the pattern splits at the first one and
            # the rest of the password lands in the host or the database name (which may
            # even parse as an address to connect to), so neither may be shown or used.
            raise InvalidDatabaseUrlError(
                "DATABASE_URL has more than one '@' before the host; write an '@' in the "
                f"password as %40 ({_SHAPE})"
            )
        url = cls(
            user=_unquoted(parts["username"]),
            password=_unquoted(parts["password"]),
            host=parts["ipv4host"] or parts["ipv6host"],
            port=port,
            database=_unquoted(parts["database"]),
            query=_one_port_for_each_host(_query(parts["query"])),
        )
        url._refuse_unusable(scheme=parts["name"])
        return url

    def _refuse_unusable(self, *, scheme: str) -> None:
        values = [self.user, self.password, self.host, self.database]
        values += [v for value in self.query.values() for v in _as_tuple(value)]
        if any("\x00" in value for value in values if value):
            raise InvalidDatabaseUrlError(
                "DATABASE_URL holds a NUL character (%00), which PostgreSQL cannot take; remove it"
            )
        if scheme not in _ACCEPTED_SCHEMES:
            raise InvalidDatabaseUrlError(
                f"DATABASE_URL uses the scheme {scheme!r}; bot-persistence speaks only "
                f"PostgreSQL: use {_SHAPE}"
            )
        if self.host is None and "host" not in self.query:
            raise InvalidDatabaseUrlError(f"DATABASE_URL names no host; write it as {_SHAPE}")
        if not self.database:
            raise InvalidDatabaseUrlError(
                f"DATABASE_URL names no database; add it after the host: {_SHAPE}"
            )

    def with_database(self, database: str) -> DatabaseUrl:
        """The same server and role, another database."""
        return dataclasses.replace(self, database=database)

    def render(self, *, hide_password: bool = True) -> str:
        """The URL as SQLAlchemy writes it (``postgresql+psycopg://...``), password as ``***``."""
        text = f"{DRIVER}://"
        if self.user is not None:
            text += quote(self.user, safe=" +")
            if self.password is not None:
                text += ":" + ("***" if hide_password else quote(self.password, safe=" +"))
            text += "@"
        if self.host is not None:
            text += f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            text += f":{self.port}"
        if self.database is not None:
            text += "/" + quote(self.database, safe=" +/")
        if self.query:
            text += "?" + "&".join(
                f"{quote_plus(key)}={quote_plus(value)}"
                for key in sorted(self.query)
                for value in _as_tuple(self.query[key])
            )
        return text

    def libpq(self, *, password: bool = True) -> str:
        """A libpq URL (``postgresql://...``), for psql, editors and the bot's own connections.

        Every character of the user, password and database that is not plain
        is percent-encoded: libpq refuses a space (or any other raw special
        character) that SQLAlchemy's rendering leaves in place. Several hosts
        (any of libpq's forms, or SQLAlchemy's repeated ``?host=h:p``) are
        written in libpq's own ``h1:p1,h2:p2`` form, which libpq tries in turn.
        """
        userinfo = quote(self.user or "", safe="")
        if password and self.password is not None:
            userinfo += ":" + quote(self.password, safe="")
        endpoints = self.endpoints()
        query_items = dict(self.query)
        if len(endpoints) > 1:
            query_items.pop("host", None)
            query_items.pop("port", None)
            netloc = ",".join(_endpoint_text(host, port) for host, port in endpoints)
        else:
            host = self.host or ""
            if ":" in host:  # an IPv6 address
                host = f"[{host}]"
            netloc = host + (f":{self.port}" if self.port else "")
        query = urlencode(sorted(query_items.items()), doseq=True, quote_via=quote)
        path = quote(self.database or "", safe="")
        return f"postgresql://{userinfo}@{netloc}/{path}" + (f"?{query}" if query else "")

    def endpoints(self) -> list[tuple[str, int | None]]:
        """Every ``(host, port)`` libpq tries, in order: one, or several for failover.

        Read as libpq reads them, from the parameters SQLAlchemy's psycopg dialect
        builds (``host=a,b``, ``port=p1,p2``; one port for all, or none).
        """
        if "host" not in self.query and "port" not in self.query:
            return [(self.host or "localhost", self.port)]
        params = self.connect_params()
        hosts = [h.strip() for h in str(params.get("host") or "localhost").split(",")]
        ports = [p.strip() for p in str(params.get("port") or "").split(",") if p.strip()]
        if len(ports) == 1:
            ports *= len(hosts)
        return [
            (host, int(ports[index]) if index < len(ports) and ports[index].isdigit() else None)
            for index, host in enumerate(hosts)
        ]

    def address(self) -> str:
        """``h1:5432,h2:5433``: where libpq connects, for messages (no user, no password)."""
        return ",".join(
            _endpoint_text(host, port or 5432) if not host.startswith("/") else host
            for host, port in self.endpoints()
        )

    def connect_params(self) -> dict[str, Any]:
        """psycopg's connect arguments, as SQLAlchemy's psycopg dialect builds them.

        A URL that lists hosts or ports in its query (libpq's multi-host forms)
        is handed to the dialect itself, which knows every such form.
        """
        if "host" in self.query or "port" in self.query:
            from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

            dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
            _, given = dialect.create_connect_args(self.sqlalchemy())  # type: ignore[no-untyped-call]
            return {str(key): value for key, value in given.items()}
        named = {
            "host": self.host,
            "dbname": self.database,
            "user": self.user,
            "password": self.password,
            "port": self.port,
        }
        params: dict[str, Any] = {key: value for key, value in named.items() if value}
        params.update(self.query)
        return params

    def sqlalchemy(self) -> URL:
        """The SQLAlchemy URL, for the places that make an engine (SQLAlchemy loads here)."""
        from sqlalchemy.engine import URL

        return URL.create(
            DRIVER,
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.database,
            query=self.query,
        )


def _endpoint_text(host: str, port: int | None) -> str:
    if ":" in host and not host.startswith("["):  # an IPv6 address
        host = f"[{host}]"
    return host + (f":{port}" if port else "")


def _hosts_into_query(text: str) -> str:
    """libpq's ``postgresql://u:p@h1:p1,h2:p2/db`` as SQLAlchemy's ``?host=h1:p1&host=h2:p2``.

    The URL pattern takes one host and one port; libpq's own multi-host form
    puts a comma-separated list where the host goes. Moved into the query, it
    is read like the other multi-host forms and written back in libpq's form.
    """
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    userinfo, at, hosts = authority.rpartition("@")
    if "," not in hosts:
        return text
    path, _, query = tail.partition("?")
    moved = "&".join(f"host={quote(entry.strip(), safe=':[]')}" for entry in hosts.split(","))
    query = f"{moved}&{query}" if query else moved
    return f"{scheme}://{userinfo}{at}{path or '/'}?{query}"


def _one_port_for_each_host(
    query: dict[str, str | tuple[str, ...]],
) -> dict[str, str | tuple[str, ...]]:
    """``?host=a,b&port=6432``: libpq uses the one port for every host; say so for each.

    SQLAlchemy's dialect (which builds the tools' connect arguments) wants as many
    ports as hosts, where libpq takes one for all.
    """
    hosts, port = query.get("host"), query.get("port")
    if isinstance(hosts, str) and "," in hosts and isinstance(port, str) and "," not in port:
        return {**query, "port": ",".join([port] * len(hosts.split(",")))}
    return query


def _unquoted(value: str | None) -> str | None:
    return unquote(value) if value is not None else None


def _as_tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value


def _query(raw: str | None) -> dict[str, str | tuple[str, ...]]:
    """The query's values: a string each, a tuple for a key given more than once."""
    query: dict[str, str | tuple[str, ...]] = {}
    for key, value in parse_qsl(raw or ""):
        query[key] = (*_as_tuple(query[key]), value) if key in query else value
    return query
