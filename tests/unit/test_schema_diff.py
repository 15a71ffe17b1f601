"""Reading a schema difference: both ways, one line per object."""

from __future__ import annotations

from bot_persistence.migrations.schema_compare import SchemaSnapshot, diff
from bot_persistence.migrations.sql_lint import as_one_transaction, without_bookkeeping


def test_equal_snapshots_have_no_difference() -> None:
    same = SchemaSnapshot({"table tracks": "", "column tracks.id": "bigint NOT NULL"})
    assert diff(same, SchemaSnapshot(dict(same.objects))) == []


def test_the_difference_is_shown_both_ways_and_changes_name_both_sides() -> None:
    before = SchemaSnapshot({"table tracks": "", "column tracks.title": "text NOT NULL"})
    after = SchemaSnapshot(
        {"column tracks.title": "character varying(300) NOT NULL", "enum type mood": "'calm'"}
    )
    assert diff(before, after, labels=("migrations", "models")) == [
        "~ column tracks.title: migrations 'text NOT NULL', "
        "models 'character varying(300) NOT NULL'",
        "+ enum type mood: 'calm'",
        "- table tracks",
    ]


def test_alembic_bookkeeping_is_left_out_of_the_linted_sql() -> None:
    offline = (
        "BEGIN;\n\nCREATE TABLE alembic_version (\n    version_num VARCHAR(32) NOT NULL\n);\n\n"
        "-- Running upgrade  -> abc\n\nCREATE TABLE t (id bigint);\n\n"
        "INSERT INTO alembic_version (version_num) VALUES ('abc');\n\nCOMMIT;\n\n"
    )
    assert without_bookkeeping(offline) == (
        "-- Running upgrade  -> abc\n\nCREATE TABLE t (id bigint);\n"
    )


def test_an_autocommit_block_keeps_its_commit_and_begin_in_the_linted_sql() -> None:
    cut = (
        "ALTER TABLE t ADD COLUMN c bigint;\n\nCOMMIT;\n\n"
        "CREATE INDEX CONCURRENTLY ix_t_c ON t (c);\n\nBEGIN;\n\n"
        "UPDATE alembic_version SET version_num='abc';\n\n"
    )
    assert as_one_transaction(without_bookkeeping(cut)) == (
        "BEGIN;\n\nALTER TABLE t ADD COLUMN c bigint;\n\nCOMMIT;\n\n"
        "CREATE INDEX CONCURRENTLY ix_t_c ON t (c);\n\nBEGIN;\n\nCOMMIT;\n"
    )
