"""OpenTelemetry through psycopg's own instrumentation: the bot's statements become spans.

The recipe of docs/production.md, run against a real server: nothing in
bot-persistence knows about tracing; the instrumentation wraps psycopg, which
every unit of work runs on.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bot_persistence.db import Database
from bot_persistence.settings import Settings

pytest.importorskip("opentelemetry.instrumentation.psycopg")

from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = PsycopgInstrumentor()
    instrumentor.instrument(tracer_provider=provider, enable_commenter=False)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()


async def test_each_statement_of_a_unit_of_work_is_a_span(
    migrated: Settings, spans: InMemorySpanExporter
) -> None:
    async with Database.connect(migrated) as db, db.session() as session:
        await session.execute(text("SELECT 41 + 1 AS traced"))
    statements = [
        span.attributes.get("db.statement")
        for span in spans.get_finished_spans()
        if span.attributes is not None
    ]
    assert "SELECT 41 + 1 AS traced" in statements
    traced = next(s for s in spans.get_finished_spans() if s.name == "SELECT")
    assert traced.attributes is not None
    assert traced.attributes.get("db.name") == migrated.database
