"""``bot-db seed --scale N``: a database the size of a real bot's, generated, loaded by COPY.

A migration that is instant on the sample seeds may lock ``playlist_tracks``
for minutes on a real bot's database. This module makes data of that shape,
deterministically from ``(scale, seed)``:

- ``N x 1,000`` users, guilds (each with its settings) and playlists; about
  seven users in ten have preferences;
- a catalogue of ``N x 5,000`` tracks from the hosts the bot plays from;
- exactly ``N x 100,000`` playlist entries: playlist sizes fall off as
  ``1/rank`` (a few large playlists of up to 5,000 tracks, many small ones),
  and which track an entry is follows a Zipf law (a few hits everywhere, a
  long tail);
- names in many scripts and with emoji, as Discord users write them.

Every generated row has an id in a range of its own, far above what the
database's sequences hand out, so the data composes with the sample seeds and
with rows the bot writes, and can be found again: loading the same
``(scale, seed)`` twice finds it there and does nothing; another one replaces
the generated rows (and only those). The rows go in with ``COPY``, in the text
format built here, table by table in one transaction.

The loader adapts to the schema it finds, so the rehearsal can fill a database
at an older revision: it copies the generated columns the table has, and
refuses, naming it, a required column it cannot fill.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import itertools
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql

__all__ = [
    "ENTRIES_PER_SCALE",
    "ID_BASE",
    "ScaleData",
    "ScaleReport",
    "Table",
    "copy_tables",
    "generate",
    "indexes_rebuilt",
    "load_scale",
]

#: Playlist entries per unit of scale (``--scale 10``: one million).
ENTRIES_PER_SCALE = 100_000
#: Users, guilds and playlists per unit of scale.
OWNERS_PER_SCALE = 1_000
#: Catalogue tracks per unit of scale.
TRACKS_PER_SCALE = 5_000
#: The largest generated playlist.
LARGEST_PLAYLIST = 5_000
#: Zipf exponent of track popularity.
POPULARITY_EXPONENT = 1.1

#: First id of each table's generated rows: far above the sequences and the seeds'
#: ids, below the shard load's (7e17); Discord ids are 64-bit, so these fit.
ID_BASE: dict[str, int] = {
    "users": 610_000_000_000_000_000,
    "guilds": 620_000_000_000_000_000,
    "tracks": 630_000_000_000_000_000,
    "playlists": 640_000_000_000_000_000,
    "playlist_tracks": 650_000_000_000_000_000,
}
#: The id span each table's generated rows stay inside.
ID_SPAN = 10_000_000_000_000_000

_WORDS = (
    "Chill", "Lo-fi", "Gym", "Road trip", "Música", "Café", "夜の曲", "Ёлка", "Ρυθμός",
    "Sommer", "Nuit", "مساء", "Rock", "Jazz", "Vibes", "Study", "בוקר", "K-pop", "ดนตรี", "Drum",
)  # fmt: skip
_SUFFIXES = ("", " ✨", " 🎵", " 🔥", " (live)", " — mix", " 💤", " 2024", " ♪", " 🚗")
_LOCALES = ("en-US", "en-GB", "de", "fr", "ja", "pt-BR", "es-ES", "ru", "ko", "tr")
_PREFIXES = ("!", "?", "$", ">>", "♪", "m!", ".")
_HOSTS = (
    ("https://www.youtube.com/watch?v=", "youtube"),
    ("https://youtu.be/", "youtube"),
    ("https://soundcloud.com/artist/", "soundcloud"),
    ("https://artist.bandcamp.com/track/", "bandcamp"),
    ("https://open.spotify.com/track/", "spotify"),
    ("https://radio.example/stream/", "other"),
)
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclasses.dataclass(frozen=True)
class Table:
    """One table's generated rows: its columns and the rows in COPY text format."""

    name: str
    columns: tuple[str, ...]
    rows: Callable[[], Iterator[tuple[object, ...]]]
    count: int


@dataclasses.dataclass(frozen=True)
class ScaleData:
    """Everything ``--scale N --seed S`` generates, table by table in foreign-key order."""

    scale: int
    seed: int
    tables: tuple[Table, ...]

    @property
    def marker(self) -> str:
        """The username of the first generated user: which generation a database holds."""
        return f"bot-db-scale-{self.scale}-seed-{self.seed}"

    def counts(self) -> dict[str, int]:
        """Rows per table."""
        return {table.name: table.count for table in self.tables}


@dataclasses.dataclass(frozen=True)
class ScaleReport:
    """What ``load_scale`` did."""

    counts: dict[str, int]
    loaded: bool
    replaced: bool
    elapsed: float

    def summary(self) -> str:
        """``1,000,000 playlist tracks, 10,000 playlists, ...`` for one output line."""
        return ", ".join(
            f"{count:,} {name.replace('_', ' ')}"
            for name, count in sorted(self.counts.items(), key=lambda item: -item[1])
        )


def _playlist_sizes(playlists: int, entries: int) -> list[int]:
    """Sizes falling off as rank^-1.1, capped at LARGEST_PLAYLIST, at least 1, adding to entries.

    The scale factor is found by bisection so that the capped sizes add up;
    the rounding's remainder goes one entry each to the largest uncapped ones.
    """
    weights = [rank**-1.1 for rank in range(1, playlists + 1)]

    def sizes_for(factor: float) -> list[int]:
        return [max(1, min(LARGEST_PLAYLIST, int(factor * w))) for w in weights]

    low, high = 0.0, float(entries) * playlists
    for _ in range(100):
        middle = (low + high) / 2
        if sum(sizes_for(middle)) > entries:
            high = middle
        else:
            low = middle
    sizes = sizes_for(low)
    short = entries - sum(sizes)
    uncapped = itertools.cycle([i for i, size in enumerate(sizes) if size < LARGEST_PLAYLIST])
    while short > 0:
        sizes[next(uncapped)] += 1
        short -= 1
    return sizes


def _rng(stream: str) -> random.Random:
    """A generator of its own per table and seed: one table's rows never shift another's."""
    return random.Random(stream)  # noqa: S311 - test data, not secrets


def _name(rng: random.Random, index: int, limit: int) -> str:
    text = f"{rng.choice(_WORDS)}{rng.choice(_SUFFIXES)} #{index}"
    return text[:limit]


def generate(scale: int, seed: int = 0) -> ScaleData:
    """The generated data for ``scale`` and ``seed``: the same rows every time."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    owners = scale * OWNERS_PER_SCALE
    tracks = scale * TRACKS_PER_SCALE
    entries = scale * ENTRIES_PER_SCALE
    base = ID_BASE
    marker = f"bot-db-scale-{scale}-seed-{seed}"

    def users() -> Iterator[tuple[object, ...]]:
        rng = _rng(f"users-{seed}")
        yield (base["users"], marker)
        for i in range(1, owners):
            yield (base["users"] + i, _name(rng, i, 32))

    def guilds() -> Iterator[tuple[object, ...]]:
        rng = _rng(f"guilds-{seed}")
        for i in range(owners):
            yield (base["guilds"] + i, _name(rng, i, 100))

    def guild_settings() -> Iterator[tuple[object, ...]]:
        rng = _rng(f"guild-settings-{seed}")
        for i in range(owners):
            yield (
                base["guilds"] + i,
                rng.choice(_PREFIXES),
                rng.randrange(0, 201),
                rng.choice(_LOCALES),
                rng.random() < 0.8,
                rng.choice((100, 250, 500, 1000)),
            )

    def user_preferences() -> Iterator[tuple[object, ...]]:
        rng = _rng(f"preferences-{seed}")
        for i in range(owners):
            if rng.random() < 0.7:
                yield (
                    base["users"] + i,
                    rng.randrange(0, 201),
                    rng.random() < 0.3,
                    rng.choice(("off", "off", "track", "queue")),
                )

    def catalogue() -> Iterator[tuple[object, ...]]:
        rng = _rng(f"tracks-{seed}")
        for i in range(tracks):
            prefix, source = rng.choice(_HOSTS)
            slug = "".join(rng.choices(_ALPHABET, k=11))
            yield (
                base["tracks"] + i,
                f"{prefix}{slug}{i}",
                _name(rng, i, 300),
                _name(rng, i, 300) if rng.random() < 0.9 else None,
                rng.randrange(30, 900),
                source,
            )

    sizes = _playlist_sizes(owners, entries)
    # Owners follow a fall-off too: a few users own many playlists.
    shape = _rng(f"playlists-{seed}")
    owner_of = [int(owners * shape.random() ** 2) for _ in range(owners)]
    guild_of = [
        base["guilds"] + shape.randrange(owners) if shape.random() < 0.6 else None
        for _ in range(owners)
    ]

    def playlists() -> Iterator[tuple[object, ...]]:
        rng = _rng(f"playlist-names-{seed}")
        for i in range(owners):
            yield (
                base["playlists"] + i,
                base["users"] + owner_of[i],
                guild_of[i],
                _name(rng, i, 100),
            )

    def playlist_tracks() -> Iterator[tuple[object, ...]]:
        rng = _rng(f"entries-{seed}")
        cumulative = list(
            itertools.accumulate(1.0 / (k**POPULARITY_EXPONENT) for k in range(1, tracks + 1))
        )
        top = cumulative[-1]
        entry = base["playlist_tracks"]
        track_base = base["tracks"]
        choose = bisect.bisect
        uniform = rng.random
        for i, size in enumerate(sizes):
            added_by = base["users"] + owner_of[i]
            playlist = base["playlists"] + i
            for position in range(size):
                yield (
                    entry,
                    playlist,
                    track_base + choose(cumulative, uniform() * top),
                    position,
                    added_by,
                )
                entry += 1

    return ScaleData(
        scale=scale,
        seed=seed,
        tables=(
            Table("users", ("id", "username"), users, owners),
            Table("guilds", ("id", "name"), guilds, owners),
            Table(
                "guild_settings",
                (
                    "guild_id",
                    "prefix",
                    "default_volume",
                    "locale",
                    "announce_now_playing",
                    "max_queue_length",
                ),
                guild_settings,
                owners,
            ),
            Table(
                "user_preferences",
                ("user_id", "preferred_volume", "autoplay", "repeat_mode"),
                user_preferences,
                sum(1 for _ in user_preferences()),
            ),
            Table(
                "tracks",
                ("id", "source_url", "title", "artist", "duration_seconds", "source"),
                catalogue,
                tracks,
            ),
            Table("playlists", ("id", "owner_id", "guild_id", "name"), playlists, owners),
            Table(
                "playlist_tracks",
                ("id", "playlist_id", "track_id", "position", "added_by"),
                playlist_tracks,
                entries,
            ),
        ),
    )


def _columns(conn: psycopg.Connection[Any], table: str) -> dict[str, bool]:
    """The table's columns -> whether a row must give it (NOT NULL, no default, not generated)."""
    rows = conn.execute(
        "SELECT column_name, is_nullable = 'NO' AND column_default IS NULL "
        "AND is_identity = 'NO' AND is_generated = 'NEVER' "
        "FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s",
        (table,),
    ).fetchall()
    return {str(name): bool(required) for name, required in rows}


#: A table getting at least this many rows has its indexes and foreign keys rebuilt.
REBUILD_AT = 100_000


@contextlib.contextmanager
def indexes_rebuilt(conn: psycopg.Connection[Any], table: str) -> Iterator[None]:
    """Drop the table's indexes and foreign keys around a big COPY, then build them again.

    Kept up row by row, a million rows cost five times what one sorted index
    build and one join per foreign key cost (pg_restore loads the same way).
    The definitions are read from the catalogue and recreated as they were,
    in the caller's transaction: a failure leaves the table as it was. A key
    another table's foreign key points at is kept (dropping it would need
    theirs dropped too); so are CHECK constraints, which cost little per row.
    """
    oid = conn.execute("SELECT %s::regclass::oid", (table,)).fetchone()
    assert oid is not None
    constraints = conn.execute(
        "SELECT c.conname, pg_get_constraintdef(c.oid), c.contype FROM pg_constraint AS c "
        "WHERE c.conrelid = %(t)s AND (c.contype = 'f' OR (c.contype IN ('p', 'u') "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint AS r "
        "WHERE r.contype = 'f' AND r.confrelid = %(t)s AND r.conindid = c.conindid)))",
        {"t": oid[0]},
    ).fetchall()
    indexes = conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index AS i "
        "WHERE i.indrelid = %(t)s AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)",
        {"t": oid[0]},
    ).fetchall()
    name = sql.Identifier(table)
    foreign = [(n, d) for n, d, kind in constraints if kind == "f"]
    keys = [(n, d) for n, d, kind in constraints if kind != "f"]
    for constraint, _ in [*foreign, *keys]:
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(name, sql.Identifier(constraint))
        )
    for index, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(index)))
    yield
    conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for constraint, definition in keys:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                name, sql.Identifier(constraint), sql.SQL(definition)
            )
        )
    for _, definition in indexes:
        conn.execute(sql.SQL(definition))
    for constraint, definition in foreign:
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                name, sql.Identifier(constraint), sql.SQL(definition)
            )
        )


def copy_tables(
    conn: psycopg.Connection[Any],
    tables: Sequence[Table],
    *,
    progress: Callable[[str, int], None] | None = None,
) -> None:
    """COPY each table's rows, keeping the columns the table has (an older revision's schema).

    Raises ``ValueError`` naming a column the table requires and no row gives.
    """
    for table in tables:
        present = _columns(conn, table.name)
        if not present:
            raise ValueError(f"table {table.name} does not exist: migrate the database first")
        missing = [c for c, required in present.items() if required and c not in table.columns]
        if missing:
            raise ValueError(
                f"{table.name}.{missing[0]} is required and the generator does not fill it"
            )
        kept = [index for index, column in enumerate(table.columns) if column in present]
        columns = sql.SQL(", ").join(sql.Identifier(table.columns[i]) for i in kept)
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table.name), columns)
        rows = table.rows()
        if len(kept) < len(table.columns):
            rows = (tuple(row[i] for i in kept) for row in rows)
        with conn.cursor() as cursor, cursor.copy(statement) as copy:
            write = copy.write_row
            for row in rows:
                write(row)
        if progress is not None:
            progress(table.name, table.count)


def _generated_range(table: str, column: str = "id") -> sql.Composed:
    low = ID_BASE[table]
    return sql.SQL("{} >= {} AND {} < {}").format(
        sql.Identifier(column), sql.Literal(low), sql.Identifier(column), sql.Literal(low + ID_SPAN)
    )


def _holds(conn: psycopg.Connection[Any], data: ScaleData) -> bool | None:
    """True when ``data`` is loaded already; False for another generation; None for none."""
    found = conn.execute("SELECT username FROM users WHERE id = %s", (ID_BASE["users"],)).fetchone()
    if found is None:
        return None
    if found[0] != data.marker:
        return False
    entries = conn.execute(
        sql.SQL("SELECT count(*) FROM playlist_tracks WHERE {}").format(
            _generated_range("playlist_tracks")
        )
    ).fetchone()
    return entries is not None and entries[0] == data.counts()["playlist_tracks"]


def _remove(conn: psycopg.Connection[Any]) -> None:
    """Delete every generated row, and the bot's rows that point at them.

    Set-based: the big tables' foreign keys are down (:func:`indexes_rebuilt`)
    while this runs, so what their ON DELETE actions would do row by row (a
    scan of ``playlist_tracks`` per deleted user) is done here once.
    """
    conn.execute(
        sql.SQL("DELETE FROM playlist_tracks WHERE ({}) OR ({}) OR ({})").format(
            _generated_range("playlist_tracks"),
            _generated_range("playlists", "playlist_id"),
            _generated_range("tracks", "track_id"),
        )
    )
    conn.execute(
        sql.SQL("UPDATE playlist_tracks SET added_by = NULL WHERE {}").format(
            _generated_range("users", "added_by")
        )
    )
    for table in ("playlists", "tracks", "guilds", "users"):
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE {}").format(
                sql.Identifier(table), _generated_range(table)
            )
        )


def load_scale(
    conn: psycopg.Connection[Any],
    scale: int,
    seed: int = 0,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> ScaleReport:
    """Load ``generate(scale, seed)`` in one transaction; nothing when it is there already.

    Another generation's rows are deleted first (settings and preferences go
    with their guilds and users, entries with their playlists); rows that are
    not generated are kept. ``conn`` must not be in autocommit mode's
    middle of anything: the work is one transaction, committed here.
    """
    started = time.perf_counter()
    data = generate(scale, seed)
    with conn.transaction():
        # A million rows take longer than a bot call's timeout; this is not a bot call.
        conn.execute("SET LOCAL statement_timeout = 0")
        held = _holds(conn, data)
        if held:
            return ScaleReport(data.counts(), loaded=False, replaced=False, elapsed=0.0)
        with contextlib.ExitStack() as rebuilt:
            for table in data.tables:
                if table.count >= REBUILD_AT:
                    rebuilt.enter_context(indexes_rebuilt(conn, table.name))
            if held is False:
                _remove(conn)
            copy_tables(conn, data.tables, progress=progress)
            if progress is not None:
                progress("indexes and foreign keys", 0)
    conn.execute("ANALYZE users, guilds, tracks, playlists, playlist_tracks")
    return ScaleReport(
        data.counts(),
        loaded=True,
        replaced=held is False,
        elapsed=time.perf_counter() - started,
    )
