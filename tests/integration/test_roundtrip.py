"""The roundtrip catches each fault built into a temporary copy of the migrations, and
stays quiet on a clean history."""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Enum,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

from bot_persistence import cli
from bot_persistence.devdb.seeding import apply_seeds_on
from bot_persistence.errors import ConfigurationError, MigrationCheckError
from bot_persistence.migrations.roundtrip import RoundtripReport, roundtrip
from bot_persistence.models import Base
from bot_persistence.project import versions_dir
from bot_persistence.schema_version import known_revisions
from bot_persistence.settings import Settings
from tests.helpers import HEAD, History, bot_db, engine_for, make_settings

#: How many revisions the project's history holds.
REVISIONS = len(known_revisions(versions_dir()))


@pytest.fixture
def history(tmp_path: Path) -> History:
    return History.copied_to(tmp_path)


@pytest.fixture
def server(db_server: Settings) -> Settings:
    """The run's test server; the roundtrip makes (and drops) databases of its own on it."""
    return db_server


def models_with(change: Callable[[MetaData], object]) -> MetaData:
    """A copy of the models' metadata with ``change`` applied; the real models stay as they are."""
    copy = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(copy)
    change(copy)
    return copy


def add_bpm(metadata: MetaData) -> None:
    metadata.tables["tracks"].append_column(Column("bpm", Integer()))


def add_moods(metadata: MetaData) -> None:
    Table(
        "moods",
        metadata,
        Column("id", BigInteger, primary_key=True),
        Column("mood", Enum("calm", "hype", name="mood"), nullable=False),
    )


def failed(report: RoundtripReport) -> dict[str, str]:
    """Failed check -> its summary line followed by its detail."""
    return {r.check: "\n".join((r.summary, *r.detail)) for r in report.findings}


def test_a_clean_history_raises_nothing(server: Settings, history: History) -> None:
    report = roundtrip(server, seed=apply_seeds_on, ini=history.ini)
    assert report.ok, failed(report)
    assert [r.check for r in report.results] == ["heads", "stairway", "models", "seeds", "squawk"]
    assert report.revisions[-1] == HEAD and len(report.revisions) == REVISIONS


def test_two_heads_are_named(server: Settings, history: History) -> None:
    history.add("aaaa00000001")
    history.add("bbbb00000002")
    report = roundtrip(server, seed=apply_seeds_on, ini=history.ini, lint=False)
    found = failed(report)
    assert list(found) == ["heads"]
    assert "aaaa00000001" in found["heads"] and "bbbb00000002" in found["heads"]
    assert "alembic merge" in found["heads"]


def test_branches_joined_by_a_merge_revision_walk_cleanly(
    server: Settings, history: History
) -> None:
    history.add(
        "aaaa00000001",
        upgrade='op.add_column("guilds", sa.Column("icon_url", sa.Text()))',
        downgrade='op.drop_column("guilds", "icon_url")',
    )
    history.add(
        "bbbb00000002",
        upgrade='op.add_column("users", sa.Column("locale", sa.Text()))',
        downgrade='op.drop_column("users", "locale")',
    )
    history.add("cccc00000003", down=("aaaa00000001", "bbbb00000002"))

    def add_columns(metadata: MetaData) -> None:
        metadata.tables["guilds"].append_column(Column("icon_url", Text()))
        metadata.tables["users"].append_column(Column("locale", Text()))

    report = roundtrip(
        server, seed=apply_seeds_on, ini=history.ini, metadata=models_with(add_columns)
    )
    assert report.ok, failed(report)
    assert report.revisions[-1] == "cccc00000003" and len(report.revisions) == REVISIONS + 3


def test_a_model_changed_without_a_migration_shows_the_schema_difference(
    server: Settings, history: History
) -> None:
    report = roundtrip(
        server, seed=apply_seeds_on, ini=history.ini, metadata=models_with(add_bpm), lint=False
    )
    found = failed(report)
    assert list(found) == ["models"]
    assert "+ column tracks.bpm: integer NULL" in found["models"]
    assert "bot-db revision -m" in found["models"]


def test_defaults_spelled_differently_with_the_same_value_raise_nothing(
    server: Settings, history: History
) -> None:
    """The migrations say text("50") and "!"; these models say "50" and '!'::varchar."""

    def respell(metadata: MetaData) -> None:
        settings = metadata.tables["guild_settings"]
        settings.append_column(
            Column("default_volume", SmallInteger, server_default="50", nullable=False),
            replace_existing=True,
        )
        settings.append_column(
            Column("prefix", String(8), server_default=text("'!'::varchar"), nullable=False),
            replace_existing=True,
        )

    report = roundtrip(
        server, seed=apply_seeds_on, ini=history.ini, metadata=models_with(respell), lint=False
    )
    assert report.ok, failed(report)


def test_a_changed_default_value_is_caught(server: Settings, history: History) -> None:
    def louder(metadata: MetaData) -> None:
        metadata.tables["guild_settings"].append_column(
            Column("default_volume", SmallInteger, server_default="60", nullable=False),
            replace_existing=True,
        )

    report = roundtrip(
        server, seed=apply_seeds_on, ini=history.ini, metadata=models_with(louder), lint=False
    )
    found = failed(report)
    assert list(found) == ["models"]
    assert "~ default guild_settings.default_volume: migrations '50'" in found["models"]


def test_a_change_autogenerate_cannot_see_is_caught_by_the_schema_compare(
    server: Settings, history: History
) -> None:
    def add_check(metadata: MetaData) -> None:
        metadata.tables["tracks"].append_constraint(
            CheckConstraint("duration_seconds < 86400", name="duration_under_a_day")
        )

    report = roundtrip(
        server, seed=apply_seeds_on, ini=history.ini, metadata=models_with(add_check), lint=False
    )
    found = failed(report)
    assert list(found) == ["models"]
    assert "+ constraint tracks.ck_tracks_duration_under_a_day" in found["models"]
    assert "--empty" in found["models"]


def test_a_downgrade_that_does_not_undo_its_upgrade_is_shown(
    server: Settings, history: History
) -> None:
    history.add(
        "aaaa00000001",
        upgrade='op.add_column("tracks", sa.Column("bpm", sa.Integer()))',
        downgrade="pass",
    )
    report = roundtrip(
        server, seed=apply_seeds_on, ini=history.ini, metadata=models_with(add_bpm), lint=False
    )
    found = failed(report)
    assert list(found) == ["stairway"]
    assert "downgrade of aaaa00000001" in found["stairway"]
    assert "+ column tracks.bpm: integer NULL" in found["stairway"]


def test_an_enum_type_left_behind_by_a_downgrade_is_caught(
    server: Settings, history: History
) -> None:
    history.add(
        "aaaa00000001",
        upgrade="""
            op.create_table(
                "moods",
                sa.Column("id", sa.BigInteger(), primary_key=True),
                sa.Column("mood", sa.Enum("calm", "hype", name="mood"), nullable=False),
            )
        """,
        downgrade='op.drop_table("moods")',
    )
    report = roundtrip(
        server, seed=apply_seeds_on, ini=history.ini, metadata=models_with(add_moods), lint=False
    )
    found = failed(report)
    assert list(found) == ["stairway"]
    assert "+ enum type mood: 'calm', 'hype'" in found["stairway"]


UNSAFE_INDEX = {
    "upgrade": 'op.create_index("ix_tracks_title", "tracks", ["title"])',
    "downgrade": 'op.drop_index("ix_tracks_title", table_name="tracks")',
}


def with_title_index(metadata: MetaData) -> None:
    Index("ix_tracks_title", metadata.tables["tracks"].c.title)


def test_an_unsafe_operation_fails_the_squawk_check(server: Settings, history: History) -> None:
    history.add("aaaa00000001", **UNSAFE_INDEX)
    report = roundtrip(
        server, seed=apply_seeds_on, ini=history.ini, metadata=models_with(with_title_index)
    )
    found = failed(report)
    assert list(found) == ["squawk"]
    assert "aaaa00000001: require-concurrent-index-creation" in found["squawk"]
    assert "CREATE INDEX ix_tracks_title ON tracks (title);" in found["squawk"]


def test_an_explicit_exemption_lets_the_operation_pass(server: Settings, history: History) -> None:
    history.add(
        "aaaa00000001",
        **UNSAFE_INDEX,
        extra="""
            # squawk: rules this revision breaks on purpose, with why it is safe here.
            squawk_exemptions = {
                "require-concurrent-index-creation": "tracks has a few hundred rows",
            }
        """,
    )
    report = roundtrip(
        server, seed=apply_seeds_on, ini=history.ini, metadata=models_with(with_title_index)
    )
    assert report.ok, failed(report)
    squawk = next(r for r in report.results if r.check == "squawk")
    ours = [line for line in squawk.detail if line.startswith("aaaa00000001")]
    assert ours == [
        "aaaa00000001: require-concurrent-index-creation exempted (tracks has a few hundred rows)"
    ]


def test_an_exemption_naming_an_unknown_rule_is_refused(server: Settings, history: History) -> None:
    history.add(
        "aaaa00000001",
        **UNSAFE_INDEX,
        extra='squawk_exemptions = {"require-concurent-index-creation": "typo"}',
    )
    with pytest.raises(MigrationCheckError, match="unknown rule"):
        roundtrip(
            server, seed=apply_seeds_on, ini=history.ini, metadata=models_with(with_title_index)
        )


IRREVERSIBLE = {
    "upgrade": 'op.execute("DELETE FROM tracks WHERE duration_seconds IS NULL")',
    "downgrade": 'raise NotImplementedError("the deleted tracks are gone")',
}


def test_a_declared_irreversible_revision_stops_the_downgrade_there(
    server: Settings, history: History
) -> None:
    history.add(
        "aaaa00000001",
        **IRREVERSIBLE,
        extra="""
            # irreversible: the downgrade cannot bring back the deleted rows.
            irreversible = "deletes tracks without a duration; they are not kept"
        """,
    )
    report = roundtrip(server, seed=apply_seeds_on, ini=history.ini)
    assert report.ok, failed(report)
    stairway = next(r for r in report.results if r.check == "stairway")
    assert "aaaa00000001 is irreversible" in stairway.detail[0]


def test_an_undeclared_failing_downgrade_is_a_finding(server: Settings, history: History) -> None:
    history.add("aaaa00000001", **IRREVERSIBLE)
    report = roundtrip(server, seed=apply_seeds_on, ini=history.ini, lint=False)
    found = failed(report)
    assert list(found) == ["stairway"]
    assert "downgrade of aaaa00000001" in found["stairway"]
    assert "the deleted tracks are gone" in found["stairway"]


def test_an_upgrade_that_loses_seeded_rows_is_caught(server: Settings, history: History) -> None:
    history.add(
        "aaaa00000001",
        upgrade="op.execute(\"UPDATE guild_settings SET prefix = '$'\")",
    )
    report = roundtrip(server, seed=apply_seeds_on, ini=history.ini, lint=False)
    found = failed(report)
    assert list(found) == ["seeds"]
    assert "upgrade of aaaa00000001" in found["seeds"]
    assert "public.guild_settings" in found["seeds"] and '"prefix": "!"' in found["seeds"]


def test_the_command_runs_on_a_given_server_in_a_database_of_its_own(server: Settings) -> None:
    url = server.url.render_as_string(hide_password=False)
    code, out, err = bot_db(Settings.from_values(), "roundtrip", "--url", url)
    assert code == 0, out + err
    assert "a scratch database of its own" in out and server.password not in out
    for check in ("heads", "stairway", "models", "seeds", "squawk"):
        assert f"✓ {check}" in out
    assert "all checks passed" in out


@pytest.mark.skipif(
    not Path("/usr/lib/postgresql/15/bin/postgres").is_file(),
    reason="Debian's postgresql-15 server package is not installed",
)
def test_the_command_runs_on_postgresql_15_and_says_where_it_came_from() -> None:
    code, out, err = bot_db(Settings.from_values(), "roundtrip", "--pg", "15", "--no-lint")
    assert code == 0, out + err
    assert "Debian package postgresql-15" in out
    assert "on PostgreSQL 15." in out


@pytest.mark.docker
def test_postgresql_15_runs_in_a_container_when_its_image_is_here(postgres_image: str) -> None:
    if not postgres_image.split(":")[-1].startswith("15"):
        pytest.skip(f"POSTGRES_IMAGE {postgres_image} is not a PostgreSQL 15 image")
    out, err = io.StringIO(), io.StringIO()
    settings = Settings.from_values(postgres_image=postgres_image)
    code = cli.main(
        ["roundtrip", "--pg", "15", "--no-lint"], settings=settings, stdout=out, stderr=err
    )
    assert code == 0, out.getvalue() + err.getvalue()
    assert f"container {postgres_image}" in out.getvalue()
    assert "on PostgreSQL 15." in out.getvalue()


def test_a_version_nobody_has_is_one_line_naming_the_ways_out() -> None:
    code, _, err = bot_db(Settings.from_values(), "roundtrip", "--pg", "9")
    assert code == 2
    assert "no PostgreSQL 9 server binaries" in err and "--url" in err
    assert "docker pull postgres:9" in err
    assert err.count("\n") == 1


def test_a_declaration_without_a_reason_is_refused(server: Settings, history: History) -> None:
    history.add("aaaa00000001", **IRREVERSIBLE, extra='irreversible = "  "')
    with pytest.raises(MigrationCheckError, match="`irreversible` must be a sentence saying why"):
        roundtrip(server, seed=apply_seeds_on, ini=history.ini, lint=False)


def test_seeds_that_do_not_load_still_leave_the_stairway_walked(
    server: Settings, history: History, tmp_path: Path
) -> None:
    history.add(
        "aaaa00000001",
        upgrade='op.add_column("tracks", sa.Column("bpm", sa.Integer()))',
        downgrade="pass",
    )
    broken_seeds = tmp_path / "seeds"
    broken_seeds.mkdir()
    (broken_seeds / "users.json").write_text('[{"id": 1, "username": ""}]')
    report = roundtrip(
        server,
        ini=history.ini,
        metadata=models_with(add_bpm),
        seed=functools.partial(apply_seeds_on, folder=broken_seeds),
        lint=False,
    )
    found = failed(report)
    assert list(found) == ["stairway", "seeds"]
    assert "+ column tracks.bpm: integer NULL" in found["stairway"]
    assert "users.json" in found["seeds"]


def test_the_command_uses_database_url_when_set_in_a_database_of_its_own(
    server: Settings, settings: Settings
) -> None:
    """CI gives a service container through DATABASE_URL; its own database is left alone."""
    configured = Settings.from_values(
        database_url=settings.url.render_as_string(hide_password=False)
    )
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(
        ["roundtrip", "--no-lint"], settings=configured, stdout=out, stderr=err, stdin=io.StringIO()
    )
    assert code == 0, out.getvalue() + err.getvalue()
    assert "DATABASE_URL" in out.getvalue() and settings.password not in out.getvalue()
    with engine_for(settings) as engine, engine.connect() as conn:
        tables = conn.execute(
            text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        ).scalar()
    assert tables == 0


def test_a_user_who_may_not_create_databases_is_told_what_to_do(
    server: Settings, settings: Settings
) -> None:
    with engine_for(server, isolation_level="AUTOCOMMIT") as admin:
        with admin.connect() as conn:
            conn.execute(text("CREATE ROLE plain_user LOGIN PASSWORD 'plain-pw' NOCREATEDB"))
        try:
            plain = make_settings(
                server.port, "postgres", postgres_user="plain_user", postgres_password="plain-pw"
            )
            with pytest.raises(ConfigurationError, match="may not create databases"):
                roundtrip(plain, seed=apply_seeds_on, lint=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text("DROP ROLE plain_user"))
