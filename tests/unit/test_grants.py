"""The runtime role's grants: the SQL, and the copy of it docs/production.md shows."""

from __future__ import annotations

from bot_persistence.migrations.grants import quote_identifier, runtime_grants
from bot_persistence.project import project_root


def test_the_grants_in_the_production_guide_are_the_ones_the_code_gives() -> None:
    guide = (project_root() / "docs" / "production.md").read_text(encoding="utf-8")
    for statement in runtime_grants("bot_app", database="bot", owner="bot_owner"):
        assert f"{statement};\n" in guide, statement


def test_the_runtime_role_gets_rows_only_and_never_writes_the_revision() -> None:
    statements = runtime_grants("app", database="bot", owner="owner")
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "public" TO "app"' in (
        statements
    )
    assert 'REVOKE INSERT, UPDATE, DELETE ON "public".alembic_version FROM "app"' in statements
    assert not any("TRUNCATE" in s or "CREATE ON" in s or "ALL PRIVILEGES" in s for s in statements)


def test_a_role_name_is_quoted_as_an_identifier() -> None:
    assert quote_identifier('we"ird role') == '"we""ird role"'
    assert '"we""ird role"' in runtime_grants('we"ird role', database="bot", owner="o")[0]
