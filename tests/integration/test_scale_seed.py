"""`bot-db seed --scale N`: generated data of a real bot's shape, loaded by COPY, idempotent."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from bot_persistence import migrations
from bot_persistence.devdb.scale_seed import ENTRIES_PER_SCALE, ID_BASE, generate, load_scale
from bot_persistence.settings import Settings
from tests.helpers import bot_db

INITIAL = "51d3e20ba02e"


def connect(settings: Settings) -> psycopg.Connection[Any]:
    url = settings.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return psycopg.connect(url, autocommit=True)


def fingerprint(conn: psycopg.Connection[Any]) -> dict[str, object]:
    """Row counts, a checksum of the entries, and every constraint and index by name."""
    found: dict[str, object] = {
        table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
        for table in ("users", "guilds", "tracks", "playlists", "playlist_tracks")
    }
    found["entries"] = conn.execute(
        "SELECT sum(hashtext(playlist_id || ':' || position || ':' || track_id)) "
        "FROM playlist_tracks"
    ).fetchone()
    found["schema"] = conn.execute(
        "SELECT array_agg(conname ORDER BY conname) FROM pg_constraint "
        "WHERE conrelid = 'playlist_tracks'::regclass AND contype IN ('p', 'u', 'f')"
    ).fetchone()
    found["indexes"] = conn.execute(
        "SELECT array_agg(indexrelid::regclass::text || indisvalid::text ORDER BY 1) "
        "FROM pg_index WHERE indrelid = 'playlist_tracks'::regclass"
    ).fetchone()
    return found


def test_the_shape_is_a_real_bots() -> None:
    data = generate(1, seed=3)
    assert data.counts()["playlist_tracks"] == ENTRIES_PER_SCALE
    entries = next(t for t in data.tables if t.name == "playlist_tracks")
    sizes: dict[object, int] = {}
    popularity: dict[object, int] = {}
    for row in entries.rows():
        sizes[row[1]] = sizes.get(row[1], 0) + 1
        popularity[row[2]] = popularity.get(row[2], 0) + 1
    ordered = sorted(sizes.values())
    assert ordered[-1] >= 20 * ordered[len(ordered) // 2]  # a few large, many small
    top = sorted(popularity.values(), reverse=True)
    assert top[0] > 50 * top[len(top) // 2]  # a few hits, a long tail
    names = [str(row[3]) for row in next(t for t in data.tables if t.name == "playlists").rows()]
    assert any(not name.isascii() for name in names)
    assert list(generate(1, seed=3).tables[-1].rows())[:50] == list(entries.rows())[:50]


def test_loading_twice_changes_nothing_and_keeps_the_schema(settings: Settings) -> None:
    migrations.upgrade(settings)
    with connect(settings) as conn:
        before = fingerprint(conn)
        first = load_scale(conn, 1)
        loaded = fingerprint(conn)
        again = load_scale(conn, 1)
        assert fingerprint(conn) == loaded
    assert first.loaded and not again.loaded
    assert loaded["playlist_tracks"] == (ENTRIES_PER_SCALE,)
    # The big table's constraints and indexes were dropped and built again, alike.
    assert loaded["schema"] == before["schema"] and loaded["indexes"] == before["indexes"]


def test_another_seed_replaces_the_generated_rows_and_keeps_the_rest(settings: Settings) -> None:
    migrations.upgrade(settings)
    code, _, err = bot_db(settings, "seed")
    assert code == 0, err
    with connect(settings) as conn:
        sample = conn.execute("SELECT count(*) FROM playlist_tracks").fetchone()
        load_scale(conn, 1, seed=1)
        report = load_scale(conn, 1, seed=2)
        assert report.replaced
        total = conn.execute("SELECT count(*) FROM playlist_tracks").fetchone()
        marker = conn.execute(
            "SELECT username FROM users WHERE id = %s", (ID_BASE["users"],)
        ).fetchone()
    assert sample is not None and total == (sample[0] + ENTRIES_PER_SCALE,)
    assert marker == ("bot-db-scale-1-seed-2",)


def test_an_older_revision_gets_the_columns_it_has(settings: Settings) -> None:
    migrations.upgrade(settings, INITIAL)  # before tracks.source existed
    with connect(settings) as conn:
        load_scale(conn, 1)
        assert conn.execute("SELECT count(*) FROM tracks").fetchone() == (5_000,)


def test_the_command_seeds_at_scale_and_says_so_in_json(settings: Settings) -> None:
    migrations.upgrade(settings)
    code, out, err = bot_db(settings, "seed", "--scale", "1", "--seed", "4", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["counts"]["playlist_tracks"] == ENTRIES_PER_SCALE
    assert document["loaded"] is True
    code, out, _ = bot_db(settings, "seed", "--scale", "1", "--seed", "4", "--json")
    assert (code, json.loads(out)["loaded"]) == (0, False)


@pytest.mark.parametrize("environment", ["production"])
def test_scale_seeding_never_reaches_production(settings: Settings, environment: str) -> None:
    code, _, err = bot_db(
        settings.model_copy(update={"environment": environment}), "seed", "--scale", "1"
    )
    assert code == 2 and "production" in err
