"""Database engines and schema migrations: SQLite by default, PostgreSQL (psycopg 3) when the URL says so."""

from __future__ import annotations

import functools
import os
import sqlite3
import time
from importlib import import_module
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, SQLModel

# Every session of the product keeps agencies apart from here on, whoever imported what.
import storage.workspaces  # noqa: F401  (registers the scoping of `storage.workspaces` on every session)

_MIGRATIONS = Path(__file__).with_name("migrations")
# Every module that declares tables: Alembic and the tests must see all of them, whoever imported what.
TABLE_MODULES = ("storage.tables", "storage.slack_messages", "storage.installations")


def metadata() -> sa.MetaData:
    """The metadata of every table of the product."""
    for module in TABLE_MODULES:
        import_module(module)
    return SQLModel.metadata


class DatabaseUrlError(ValueError):
    """DATABASE_URL cannot be understood (the message names the scheme, never the credentials)."""


def normalize_url(url: str) -> sa.URL:
    """Parse a database URL, sending every PostgreSQL spelling to the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as error:
        raise DatabaseUrlError("unparsable database URL") from error
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(f"unsupported database: {parsed.get_backend_name()}")
    return parsed


# A bot process runs its listener and click threads (16 each), the HTTP threads' middleware and the
# deliverer: SQLAlchemy's default of 5 + 10 connections would make clicks wait for a connection under load.
# Few stay open when idle, so that several processes stay far below PostgreSQL's 100 connections.
POOL_SIZE = 8
POOL_OVERFLOW = 32
# A connection back in the pool less than this long ago is used without a check: under load (a click every
# few seconds per agent) a transaction costs no extra round trip. One idle longer (a firewall, a database
# restarted meanwhile) is checked first. A connection found dead in use all the same fails that one
# transaction (a click the agent makes again, a delivery or a tick retried on its own) and drops the pool's
# other connections with it (SQLAlchemy's disconnect handling).
PING_AFTER_IDLE_SECONDS = 30.0


def insert_for(bind: Engine | sa.Connection | Session) -> Any:
    """The dialect's own `insert` construct (PostgreSQL's or SQLite's), which has ON CONFLICT: the one
    statement that inserts a row unless its key is there, or changes it when it is."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


def make_engine(url: str, *, echo: bool = False, ping_after_idle: float = PING_AFTER_IDLE_SECONDS) -> Engine:
    """An engine whose errors never quote the SQL parameters: a failed write would otherwise put the client's
    name or e-mail into the exception's text, and from there into a log."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "postgresql":
        engine = sa.create_engine(parsed, echo=echo, hide_parameters=True, pool_size=POOL_SIZE,
                                  max_overflow=POOL_OVERFLOW)
        sa.event.listen(engine, "checkin", _note_checkin)
        sa.event.listen(engine, "checkout", functools.partial(_check_if_idle, engine.dialect, ping_after_idle))
        return engine
    engine = sa.create_engine(parsed, echo=echo, hide_parameters=True,
                              connect_args={"timeout": 30, "check_same_thread": False})
    sa.event.listen(engine, "connect", _configure_sqlite)
    sa.event.listen(engine, "begin", _begin_immediate)
    return engine


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def _check_if_idle(dialect: sa.Dialect, idle: float, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A connection idle for long is checked before use (the dialect's own ping, as `pool_pre_ping`); a dead
    one is replaced."""
    checked_in = record.info.get("checked_in")
    if checked_in is None or time.monotonic() - checked_in < idle:
        return  # new, or in use moments ago
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:  # the driver's own errors: the pool then opens a new connection
        raise sa.exc.DisconnectionError() from error


def _configure_sqlite(dbapi_connection, _record) -> None:
    # Let SQLAlchemy issue BEGIN itself (see _begin_immediate) instead of pysqlite's deferred one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _begin_immediate(connection) -> None:
    # SQLite has no row locks: taking the write lock at BEGIN serialises units of work on one case and
    # avoids the deadlock of two readers upgrading to writers.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (Alembic upgrade), in the engine's own database.

    On SQLite, foreign keys are off while the migrations run and checked before they commit: SQLite changes
    a constraint by copying the table and dropping the old one, which enforced keys would refuse (SQLite's
    documented procedure; the pragma only works outside a transaction, hence the driver's connection).
    """
    config = alembic_config()
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        if sqlite:
            driver.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise sa.exc.IntegrityError("PRAGMA foreign_key_check", None, ValueError("dangling keys"))
        finally:
            if sqlite:
                driver.execute("PRAGMA foreign_keys=ON")


def schema_is_current(engine: Engine) -> bool:
    """Whether the database answers and its schema is at the newest migration (readiness probes).

    Raises the driver's error when the database cannot be reached; the caller decides what that means.
    """
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def backup_sqlite(engine: Engine, target: Path) -> None:
    """Copy a SQLite database to `target` with SQLite's online backup API: consistent while the bot runs.

    The copy is created readable by its owner only: it holds every client's data.
    """
    if engine.url.get_backend_name() != "sqlite":
        raise ValueError("not a SQLite database")
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(descriptor)
    source = engine.raw_connection()
    try:
        destination = sqlite3.connect(target)
        try:
            source.driver_connection.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()
