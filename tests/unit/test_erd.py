"""The ER diagram is generated from the models, and `bot-db erd` prints or writes it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, UniqueConstraint

from bot_persistence import cli
from bot_persistence.devdb import erd
from bot_persistence.settings import Settings


def tiny_metadata() -> MetaData:
    metadata = MetaData()
    Table("owners", metadata, Column("id", Integer, primary_key=True))
    Table(
        "pets",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("owner_id", ForeignKey("owners.id"), nullable=False),
        Column("sitter_id", ForeignKey("owners.id"), nullable=True),
        Column("tag", String(20), nullable=True),
        UniqueConstraint("tag"),
    )
    Table("passports", metadata, Column("pet_id", ForeignKey("pets.id"), primary_key=True))
    return metadata


def test_relationships_show_cardinality_from_keys_and_nullability() -> None:
    source = erd.mermaid(tiny_metadata())
    assert '    owners ||--o{ pets : "owner_id"' in source
    assert '    owners |o--o{ pets : "sitter_id"' in source
    assert '    pets ||--o| passports : "pet_id"' in source


def test_columns_show_type_keys_and_nullability() -> None:
    source = erd.mermaid(tiny_metadata())
    assert "        integer owner_id FK\n" in source
    assert '        varchar(20) tag UK "nullable"\n' in source
    assert "        integer pet_id PK, FK\n" in source


def test_the_models_diagram_names_every_table_once() -> None:
    from bot_persistence.models import Base

    source = erd.mermaid()
    assert source.startswith("erDiagram\n")
    for table in Base.metadata.tables:
        assert source.count(f"    {table} {{") == 1
    assert "timestamptz created_at" in source and "jsonb extra" in source


def test_bot_db_erd_prints_the_diagram() -> None:
    out = io.StringIO()
    code = cli.main(["erd"], settings=Settings.from_values(), stdout=out, stderr=io.StringIO())
    assert code == 0
    assert out.getvalue() == erd.mermaid()


def test_bot_db_erd_write_updates_the_schema_page_of_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "alembic").mkdir()
    (tmp_path / "alembic" / "env.py").write_text("", encoding="utf-8")
    (tmp_path / "alembic.ini").write_text("", encoding="utf-8")
    page = tmp_path / "docs" / "schema.md"
    page.parent.mkdir()
    page.write_text(f"# Schema\n{erd.BEGIN_MARKER}\nold\n{erd.END_MARKER}\nafter\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    code = cli.main(["erd", "--write"], settings=Settings.from_values(), stdout=out)
    assert code == 0
    assert "updated" in out.getvalue()
    text = page.read_text(encoding="utf-8")
    expected = f"# Schema\n{erd.BEGIN_MARKER}\n{erd.diagram_block()}{erd.END_MARKER}\nafter\n"
    assert text == expected


def test_the_committed_schema_page_matches_the_models() -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "schema.md"
    text = page.read_text(encoding="utf-8")
    assert f"{erd.BEGIN_MARKER}\n{erd.diagram_block()}{erd.END_MARKER}\n" in text
