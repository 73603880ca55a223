"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from datetime import UTC

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import Session

from storage import tables
from storage.db import metadata


def test_migrated_schema_matches_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata()) == []


def test_timestamps_come_back_timezone_aware_utc(engine, factory):
    case_id = factory.case()
    with Session(engine) as session:
        opened_at = session.get(tables.M3Case, case_id).opened_at
    assert opened_at.tzinfo is not None and opened_at.utcoffset().total_seconds() == 0
    assert opened_at.tzinfo == UTC
