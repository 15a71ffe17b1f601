"""The URL parsed without SQLAlchemy means what SQLAlchemy's own parsing meant.

``DatabaseUrl`` replaced ``make_url`` so that a command that makes no engine
never loads SQLAlchemy; these hold its parts, its rendering and its connect
arguments to SQLAlchemy's, URL by URL.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import sqlalchemy
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.engine import make_url

from bot_persistence.database_url import DRIVER, DatabaseUrl

URLS = [
    "postgresql://bot:secret@127.0.0.1:5433/bot",
    "postgres://bot:secret@localhost/bot",
    "postgresql+psycopg_async://bot@db.example.com:6432/music",
    "postgresql://b%20o+t:p%40ss%3Aw%2Fo%20rd@[::1]:5432/my%20db",
    "postgresql://bot:secret@localhost:5432/bot?sslmode=require&application_name=shard+1",
    "postgresql://bot:secret@/bot?host=/var/run/postgresql",
    "postgresql://bot:secret@/bot?host=a.example.com,b.example.com&port=5432,5433",
    "postgresql://bot:secret@/bot?host=a.example.com:5432&host=b.example.com:5433",
    "postgresql://bot:@localhost/bot",
    "postgresql://bot:secret@localhost/bot?options=-c%20statement_timeout%3D5000",
]


def _sqlalchemy_params(raw: str) -> dict[str, Any]:
    dialect = PGDialect_psycopg()  # type: ignore[no-untyped-call]
    _, params = dialect.create_connect_args(  # type: ignore[no-untyped-call]
        make_url(raw).set(drivername=DRIVER)
    )
    return {key: value for key, value in params.items() if key not in {"context"}}


#: SQLAlchemy before 2.1 (the newest release for Python 3.10 is 2.0) leaves a
#: percent-encoded database name encoded; libpq, and SQLAlchemy 2.1, decode it.
_OLD_SQLALCHEMY = tuple(int(part) for part in sqlalchemy.__version__.split(".")[:2]) < (2, 1)


@pytest.mark.parametrize("raw", URLS)
def test_parts_rendering_and_connect_arguments_match_sqlalchemy(raw: str) -> None:
    if _OLD_SQLALCHEMY and "%" in raw.rpartition("/")[2].partition("?")[0]:
        pytest.skip("SQLAlchemy 2.0 keeps %-escapes in the database name (libpq's reading below)")
    ours = DatabaseUrl.parse(raw)
    theirs = make_url(raw).set(drivername=DRIVER)
    assert (ours.user, ours.password, ours.host, ours.port, ours.database) == (
        theirs.username,
        theirs.password,
        theirs.host,
        theirs.port,
        theirs.database,
    )
    assert dict(ours.query) == dict(theirs.query)
    assert ours.render() == theirs.render_as_string(hide_password=True)
    assert ours.render(hide_password=False) == theirs.render_as_string(hide_password=False)
    assert ours.sqlalchemy() == theirs
    assert ours.connect_params() == _sqlalchemy_params(raw)


@pytest.mark.parametrize("raw", [u for u in URLS if u.startswith("postgresql://")])
def test_the_parts_are_what_libpq_reads(raw: str) -> None:
    """libpq is the authority on what a URL means: user, password and database decoded."""
    ours = DatabaseUrl.parse(raw)
    libpq = psycopg.conninfo.conninfo_to_dict(raw)
    assert (ours.user, ours.database) == (libpq.get("user"), libpq.get("dbname"))
    assert (ours.password or None) == (libpq.get("password") or None)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("not a url", "not a valid URL"),
        ("postgresql://bot:secret@localhost:port/bot", "port that is not a number"),
        ("postgresql://bot:p@ss@localhost/bot", "more than one '@'"),
        ("mysql://bot:secret@localhost/bot", "scheme 'mysql'"),
        ("postgresql://bot:secret@/bot", "names no host"),
        ("postgresql://bot:secret@localhost", "names no database"),
        ("postgresql://bot:secret@localhost/b%00t", "NUL"),
    ],
    ids=["garbage", "port", "at-sign", "scheme", "no-host", "no-database", "nul"],
)
def test_an_unusable_url_says_what_is_wrong_without_its_text(raw: str, says: str) -> None:
    from bot_persistence.errors import InvalidDatabaseUrlError

    with pytest.raises(InvalidDatabaseUrlError, match=says) as raised:
        DatabaseUrl.parse(raw)
    assert "secret" not in str(raised.value)
