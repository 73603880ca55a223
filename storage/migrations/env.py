"""Alembic environment: runs on the connection `storage.db.migrate` passes, or on DATABASE_URL."""

from alembic import context
from sqlmodel.sql.sqltypes import AutoString

from storage.db import metadata
from storage.tables import UtcDateTime

target_metadata = metadata()


def _render_item(kind: str, item, _autogen_context):
    # Migrations stay plain SQLAlchemy, so they never break when a model module changes.
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    if kind == "type" and isinstance(item, AutoString):
        return "sa.String()"
    return False


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from config.settings import Settings
    from storage.db import make_engine

    with make_engine(Settings().database_url).begin() as own_connection:
        _run(own_connection)
