"""The audit trail's triggers, taken off and put back, for what only a test (or an attacker) does: empty the
trail, or tamper with it to show that `m3bot audit verify` notices."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Connection, Engine


def _definitions(connection: Connection) -> list[tuple[str, str]]:
    if connection.dialect.name == "postgresql":
        return list(connection.exec_driver_sql(
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger"
            " WHERE tgrelid = 'audit_entry'::regclass AND NOT tgisinternal").all())
    return list(connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_entry'").all())


@contextmanager
def triggers_dropped(engine: Engine) -> Iterator[None]:
    """Drop the trail's triggers for the block, then create them again as they were."""
    with engine.begin() as connection:
        definitions = _definitions(connection)
        suffix = " ON audit_entry" if connection.dialect.name == "postgresql" else ""
        for name, _ in definitions:
            connection.exec_driver_sql(f"DROP TRIGGER {name}{suffix}")
    try:
        yield
    finally:
        with engine.begin() as connection:
            # Reading the catalogue first also refreshes a pooled SQLite connection's cached schema, which
            # would otherwise still hold the dropped triggers and refuse to create them "again".
            present = {name for name, _ in _definitions(connection)}
            for name, definition in definitions:
                if name not in present:
                    connection.exec_driver_sql(definition)
